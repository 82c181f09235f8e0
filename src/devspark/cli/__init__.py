"""The ``devspark`` command line (Typer). Errors become exit codes in one place: ``main``."""

from __future__ import annotations

import sys

import typer

from devspark.cli.app import app, exit_code_for
from devspark.core.errors import DevSparkError


def main() -> None:
    """Entry point of the ``devspark`` script."""
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of exiting
        if isinstance(code, int) and code:
            sys.exit(code)
    except DevSparkError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exit_code_for(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # click usage errors and the like
        # Typer vendors its own click (typer._click): recognise its exceptions by shape.
        show, exit_code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(exit_code, int):
            show()
            sys.exit(exit_code)
        if isinstance(exc, typer.Abort) or type(exc).__name__ == "Abort":
            sys.exit(1)
        raise


__all__ = ["app", "main"]
