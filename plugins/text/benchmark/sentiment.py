"""Does an accepted word swap flip the word's sentiment? A check with the VADER lexicon.

The lexicon is ``vader_lexicon.txt`` from the PyPI package ``vaderSentiment`` (Hutto and
Gilbert, ICWSM 2014; about 7,500 entries rated from -4 to +4 by ten raters; in the ``text`` and
``test`` extras). A swap ``old -> new`` *flips* sentiment when both words are in the lexicon with
mean valences of opposite sign, each at least ``min_valence`` in size (default 0.5, so that
nearly neutral words do not count). A sentiment-preserving attack on a sentiment task should
flip almost none: such a swap changes the true label rather than fooling the model.

Example::

    from art_ext_plugins.text.benchmark.sentiment import sentiment_flips
    stats = sentiment_flips([(s.old, s.new) for _, s in result.accepted_swaps()])
    stats["rate"], stats["ci95"], stats["examples"]
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from typing import Any

from art_ext.evaluation.stats import wilson_interval

__all__ = ["LEXICON", "flips", "sentiment_flips", "vader_lexicon"]

LEXICON = "VADER (vaderSentiment package, vader_lexicon.txt)"


@functools.lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    """``word -> mean valence`` from the ``vaderSentiment`` package's lexicon file."""
    try:
        import vaderSentiment
    except ImportError as exc:
        raise ValueError("the sentiment check needs the package vaderSentiment (pip install vaderSentiment, "
                         "in art-ext's text extra)") from exc
    path = os.path.join(os.path.dirname(vaderSentiment.__file__), "vader_lexicon.txt")
    lexicon: dict[str, float] = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                try:
                    lexicon[parts[0].lower()] = float(parts[1])
                except ValueError:
                    continue
    return lexicon


def flips(old: str, new: str, min_valence: float = 0.5, lexicon: dict[str, float] | None = None) -> bool:
    """Whether ``old -> new`` replaces a word by one of opposite sentiment (see the module docstring)."""
    lex = vader_lexicon() if lexicon is None else lexicon
    a, b = lex.get(old.lower()), lex.get(new.lower())
    if a is None or b is None:
        return False
    return abs(a) >= min_valence and abs(b) >= min_valence and (a > 0) != (b > 0)


def sentiment_flips(pairs: Iterable[tuple[str, str]], min_valence: float = 0.5) -> dict[str, Any]:
    """Share of ``(old, new)`` swaps that flip sentiment, with its 95% Wilson interval."""
    lex = vader_lexicon()
    pairs = list(pairs)
    flipped = [(o, n) for o, n in pairs if flips(o, n, min_valence, lex)]
    polar = sum(1 for o, n in pairs if abs(lex.get(o.lower(), 0.0)) >= min_valence and abs(lex.get(n.lower(), 0.0)) >= min_valence)
    n = len(pairs)
    return {
        "lexicon": LEXICON, "min_valence": min_valence, "swaps": n, "both_polar": polar, "opposite": len(flipped),
        "rate": len(flipped) / n if n else 0.0, "ci95": list(wilson_interval(len(flipped), n)),
        "examples": [f"{o} -> {w}" for o, w in flipped[:10]],
    }
