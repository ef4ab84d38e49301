"""Black-box character edits: swap, delete, insert, neighbouring keys (DeepWordBug / Pruthi-style).

Papers: Gao, Lanchantin, Soffa and Qi, "Black-box Generation of Adversarial Text Sequences to
Evade Deep Learning Classifiers" (DeepWordBug), IEEE S&P Workshops 2018; Pruthi, Dhingra and
Lipton, "Combating Adversarial Misspellings with Robust Word Recognition", ACL 2019.

The search is the greedy word-importance search of :mod:`.wordswap` (queries only through
``estimator.predict``, counted); the changes proposed for a word are single character edits
inside it (its first and last letter stay):

* ``swap`` two adjacent inner letters (``movie`` -> ``mvoie``);
* ``delete`` an inner letter (``movie`` -> ``mvie``);
* ``insert`` a random letter inside (``movie`` -> ``moviqe``);
* ``keyboard``: replace an inner letter by a neighbouring key on a QWERTY keyboard (``movie`` -> ``mocie``).

Only words of at least ``min_word_length`` letters change. A misspelled word usually splits into
several word pieces, which is what a model trained on embeddings of whole words has not seen.

Constraints: those on words (word-embedding cosine, part of speech) do not apply to character
edits (they record ``None``); stop words, word budgets and sentence similarity do.

Distance: number of words edited (one edit per word), at most ``max_perturb_ratio`` of the words.

Arguments (defaults): ``max_perturb_ratio=0.2``, ``operations=("swap", "delete", "insert",
"keyboard")``, ``n_candidates=30`` edits tried per word (sampled from all possible ones),
``min_word_length=4``, ``importance="delete"``, ``constraints="none"``, ``sentence_encoder=None``,
``word_encoder=None``, ``tagger=None``, ``targeted=False``, ``batch_size=64``, ``seed=0``,
``verbose=False``.

Example::

    attack = art_ext.get_attack("text-charswap", classifier, max_perturb_ratio=0.1)
    attack.attack_text(["a gorgeous , witty , seductive movie ."]).adversarial_texts[0]  # what it produced
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from art_ext_plugins.text.attacks.word_attack import SentenceContext
from art_ext_plugins.text.attacks.words import Sentence
from art_ext_plugins.text.attacks.wordswap import GreedySubstitution
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

from art_ext import checks

__all__ = ["OPERATIONS", "QWERTY_NEIGHBOURS", "CharSwap", "char_edits"]

OPERATIONS = ("swap", "delete", "insert", "keyboard")

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours() -> dict[str, str]:
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out: dict[str, str] = {}
    for c, (r, i) in where.items():
        near = [d for d, (r2, i2) in where.items() if d != c and abs(r2 - r) <= 1 and abs(i2 - i) <= 1]
        out[c] = "".join(sorted(near))
    return out


#: letters next to each letter on a QWERTY keyboard (same row and the rows above/below)
QWERTY_NEIGHBOURS: dict[str, str] = _neighbours()


def char_edits(word: str, operations: Sequence[str] = OPERATIONS, rng: np.random.Generator | None = None) -> list[str]:
    """Every single inner edit of ``word`` by ``operations`` (inserts: one random letter per
    position), without duplicates or the word itself, in a fixed order."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(word)
    out: list[str] = []
    if "swap" in operations:
        out += [word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(1, n - 2)]
    if "delete" in operations:
        out += [word[:i] + word[i + 1 :] for i in range(1, n - 1)]
    if "insert" in operations:
        letters = string.ascii_lowercase
        out += [word[:i] + letters[int(rng.integers(26))] + word[i:] for i in range(1, n)]
    if "keyboard" in operations:
        for i in range(1, n - 1):
            for c in QWERTY_NEIGHBOURS.get(word[i].lower(), ""):
                out.append(word[:i] + c + word[i + 1 :])
    seen: set[str] = {word}
    unique = []
    for candidate in out:
        if candidate not in seen:
            seen.add(candidate)
            unique.append(candidate)
    return unique


class CharSwap(GreedySubstitution):
    """Black-box character edits (see the module docstring)."""

    attack_params = [*GreedySubstitution.attack_params, "operations", "n_candidates", "min_word_length", "seed"]
    kind = "char"

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        max_perturb_ratio: float = 0.2,
        operations: Sequence[str] = OPERATIONS,
        n_candidates: int = 30,
        min_word_length: int = 4,
        importance: str = "delete",
        constraints: Any = "none",
        sentence_encoder: Any = None,
        word_encoder: Any = None,
        tagger: Any = None,
        targeted: bool = False,
        batch_size: int = 64,
        seed: int = 0,
        verbose: bool = False,
    ) -> None:
        self.operations = tuple(operations) if isinstance(operations, (list, tuple)) else operations
        self.n_candidates = n_candidates
        self.min_word_length = min_word_length
        self.seed = seed
        super().__init__(estimator, importance=importance, max_perturb_ratio=max_perturb_ratio,
                         constraints=constraints, sentence_encoder=sentence_encoder, word_encoder=word_encoder,
                         tagger=tagger, targeted=targeted, batch_size=batch_size, verbose=verbose)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.operations, tuple) or not self.operations:
            raise ValueError(f"operations must be a non-empty list of {', '.join(OPERATIONS)}; got {self.operations!r}")
        for op in self.operations:
            checks.choice(op, "operations", OPERATIONS)
        checks.integer(self.n_candidates, "n_candidates", minimum=1)
        checks.integer(self.min_word_length, "min_word_length", minimum=3)
        checks.seed(self.seed)

    def _begin(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _proposals(self, ctx: SentenceContext, state: Sentence, index: int) -> list[tuple[int, list[int], str]]:
        word = state.words[index].original
        if len(word) < self.min_word_length:
            return []
        edits = char_edits(word, self.operations, self._rng)
        if len(edits) > self.n_candidates:
            pick = np.sort(self._rng.choice(len(edits), self.n_candidates, replace=False))
            edits = [edits[i] for i in pick]
        return [(index, [], e) for e in edits]
