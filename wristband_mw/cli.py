"""The ``wristband-mw`` command line."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import __version__


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``wristband-mw`` console script."""
    parser = argparse.ArgumentParser(prog="wristband-mw", description="JWT middleware for WSGI and ASGI apps.")
    parser.add_argument("--version", action="version", version=f"wristband-mw {__version__}")
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
