"""``python -m art_ext`` (and ``torchrun -m art_ext train ...``): the ``art-ext`` command line."""

import sys

from art_ext.cli import main

if __name__ == "__main__":
    sys.exit(main())
