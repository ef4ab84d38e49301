"""Rewrite absolute paths of the producing machine in committed documents and results.

Results files record the command that made them and the files they used; before 2026-12-03 some
recorded them verbatim (``--data-dir /work/shared/data/mnist``, a tox folder's model cache). This
rewrites every such path with :func:`art_ext.data.portable_path` (``$ART_EXT_DATA/mnist``, a path
relative to the working folder, ``~/...``, ``$TMPDIR/...``); the figures are untouched. New results
record portable paths themselves; ``tests/test_portable_paths.py`` fails when one slips through.

    ART_EXT_DATA=/path/to/data python benchmarks/portable_paths.py [--check]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from art_ext.data import portable_path

#: an absolute path of a machine: the folders such machines keep work, homes and temp files in
MACHINE_PATH = re.compile(r"(?<![\w$~.])/(?:root|work|tmp|home|Users|var/folders)/[^\s\"'`)\],;]*")
#: a model cache inside a tox environment (tox sets ``$ART_EXT_CACHE`` to it): recorded as the cache root
TOX_CACHE = re.compile(r"\.tox/[\w.-]+/tmp/cache/")
#: the committed files that may record paths (documents and results, not scripts)
PATTERNS = ("README.md", "docs/**/*.md", "benchmarks/results/**/*.json", "benchmarks/results/**/*.md",
            "benchmarks/results/**/*.csv")


def committed_documents(root: Path) -> list[Path]:
    return sorted({p for pattern in PATTERNS for p in root.glob(pattern) if p.is_file()})


def machine_paths(text: str) -> list[str]:
    return MACHINE_PATH.findall(text) + TOX_CACHE.findall(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list the files that hold machine paths")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    found = 0
    for path in committed_documents(root):
        text = path.read_text()
        paths = machine_paths(text)
        if not paths:
            continue
        found += 1
        if args.check:
            print(f"{path.relative_to(root)}: {', '.join(sorted(set(paths))[:3])}")
            continue
        text = MACHINE_PATH.sub(lambda m: portable_path(m.group(0)), text)
        path.write_text(TOX_CACHE.sub("$ART_EXT_CACHE/", text))
        print(f"rewrote {path.relative_to(root)} ({len(paths)} paths)")
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
