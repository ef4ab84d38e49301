"""Every import path written in README.md and docs/text.md works (issue 17: the README's
``from art_ext_plugins.text import HuggingFaceTextClassifier`` used to raise ImportError)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

pytest.importorskip("transformers", reason="the text plugin needs transformers (pip install art-ext[text])")

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", ROOT / "docs" / "text.md"]
FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+((?:art_ext|art_ext_plugins)[\w.]*)[ \t]+import[ \t]+([\w ,]+)", re.M)
PLAIN_IMPORT = re.compile(r"^[ \t]*import[ \t]+((?:art_ext|art_ext_plugins)[\w.]*)", re.M)
DOTTED = re.compile(r"`((?:art_ext|art_ext_plugins)(?:\.\w+)+)")


def _paths() -> list[tuple[str, str, str | None]]:
    """``(file, module, name)`` for every import statement and dotted reference in the docs."""
    found: list[tuple[str, str, str | None]] = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for module, names in FROM_IMPORT.findall(text):
            found += [(doc.name, module, n.strip()) for n in names.split(",") if n.strip()]
        found += [(doc.name, m, None) for m in PLAIN_IMPORT.findall(text)]
        found += [(doc.name, d, "dotted") for d in DOTTED.findall(text)]
    return sorted(set(found))


def _resolve(dotted: str) -> object:
    """Import the longest importable module prefix of ``dotted`` and get the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_docs_name_import_paths():
    names = {(m, n) for _, m, n in _paths()}
    assert ("art_ext_plugins.text", "HuggingFaceTextClassifier") in names


@pytest.mark.parametrize("doc,module,name", _paths())
def test_import_path_works(doc, module, name):
    if name is None:
        importlib.import_module(module)
    elif name == "dotted":
        _resolve(module)
    else:
        assert getattr(importlib.import_module(module), name) is not None, f"{doc}: from {module} import {name}"
