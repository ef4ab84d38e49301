"""``python -m art_ext.bench ...``: the same as ``art-ext bench ...``."""

from __future__ import annotations

import sys

from art_ext.bench.cli import run_cli

sys.exit(run_cli())
