"""``python -m art_ext.cli ...``: the ``art-ext`` command line."""

import sys

from art_ext.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
