"""``python -m art_ext.bench ...``: the same as ``art-ext bench ...`` (an entry point, above every layer)."""

from __future__ import annotations

import sys

from art_ext.cli.bench import run_cli

sys.exit(run_cli())
