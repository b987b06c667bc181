"""``python -m lrfind``: the same as the ``lrfind`` command (see :mod:`lrfind.cli`)."""

from lrfind.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
