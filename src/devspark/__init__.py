"""DevSpark Playground."""
