"""Floods valid progress lines for its task without end; behaves when asked to."""


def handle(task, context):
    if task["payload"] == "behave":
        return "fine"
    while True:
        context.progress({"spam": "x" * 64})
