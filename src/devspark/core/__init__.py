"""Pure domain: errors, manifests, statuses, results and ports. No I/O adapters."""
