"""Words of a tokenized sentence, shared by every word- and character-level text attack.

A sentence's real tokens (attended, not special) are grouped into words with the tokenizer's
own word boundaries (:class:`~art_ext_plugins.text.model.vocabulary.WordVocabulary`); each word keeps
its token ids, its text and, for string input, its character span in the original string, so a
changed word is written back into the string at that span and the rest of the text stays
exactly as given (:func:`render`).

Structural rules, the same for every attack: special tokens and padding are never changed;
only words made of letters (at least two) may change; a word cut by truncation never changes;
each word changes at most once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from art_ext_plugins.text.attacks.results import SwapRecord
    from art_ext_plugins.text.model.vocabulary import WordVocabulary

__all__ = ["Sentence", "Word", "last_word_cut", "match_case", "render", "split_words", "without_word"]


@dataclass
class Word:
    """One word: its token ids, current text, whether it may change, whether it counts."""

    tokens: list[int]
    text: str
    modifiable: bool
    counts: bool
    char_span: tuple[int, int] | None = None
    changed: bool = False
    original: str = ""

    def __post_init__(self) -> None:
        if not self.original:
            self.original = self.text


@dataclass
class Sentence:
    """A sentence as words between its leading and trailing special tokens.

    ``swaps`` records every accepted change (with its constraint values) in the order made;
    ``loss`` and ``pred`` are the attack objective and prediction once evaluated.
    """

    prefix: list[int]
    words: list[Word]
    suffix: list[int]
    loss: float = -math.inf
    pred: int = -1
    swaps: tuple[SwapRecord, ...] = field(default_factory=tuple)

    def ids(self) -> list[int]:
        return self.prefix + [t for w in self.words for t in w.tokens] + self.suffix

    def texts(self) -> list[str]:
        """The current text of every word."""
        return [w.text for w in self.words]

    def originals(self) -> list[str]:
        return [w.original for w in self.words]

    def replaced(self, index: int, tokens: list[int], text: str, record: SwapRecord | None = None) -> Sentence:
        """A copy with word ``index`` replaced (it is then no longer modifiable)."""
        words = list(self.words)
        old = words[index]
        words[index] = Word(tokens, text, False, old.counts, old.char_span, True, old.original)
        swaps = self.swaps + ((record,) if record is not None else ())
        return Sentence(self.prefix, words, self.suffix, swaps=swaps)

    @property
    def n_changed(self) -> int:
        return sum(w.changed for w in self.words)

    @property
    def n_words(self) -> int:
        return sum(w.counts for w in self.words)


def last_word_cut(text: str, real: Sequence[bool], offsets: Sequence[tuple[int, int]] | None) -> bool:
    """Whether truncation ended the tokens inside a word (its rest was dropped, so never change it)."""
    positions = [i for i, r in enumerate(real) if r]
    if offsets is None or not positions or positions[-1] >= len(offsets):
        return False
    end = offsets[positions[-1]][1]
    return 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum()


def split_words(vocabulary: WordVocabulary, ids: Sequence[int], real: Sequence[bool],
                offsets: Sequence[tuple[int, int]] | None = None, cut_last: bool = False) -> Sentence:
    """Group the real tokens of one sentence into words (see the module docstring)."""
    positions = [i for i, r in enumerate(real) if r]
    first = positions[0] if positions else len(ids)
    last = positions[-1] + 1 if positions else len(ids)
    prefix, suffix = list(ids[:first]), list(ids[last:])
    spans: list[list[int]] = []
    prev: str | None = None
    for pos in range(first, last):
        tok = vocabulary.tokens[int(ids[pos])]
        if not spans or vocabulary.starts_word(tok, prev):
            spans.append([pos])
        else:
            spans[-1].append(pos)
        prev = tok
    words: list[Word] = []
    for span in spans:
        toks = [int(ids[p]) for p in span]
        text = "".join(vocabulary.surface(t) for t in toks)
        modifiable = text.isalpha() and len(text) >= 2 and not (cut_last and span is spans[-1])
        char_span = (offsets[span[0]][0], offsets[span[-1]][1]) if offsets is not None else None
        words.append(Word(toks, text, modifiable, any(c.isalnum() for c in text), char_span))
    return Sentence(prefix, words, suffix)


def render(text: str, sentence: Sentence, decode: Callable[[list[int]], str] | None = None) -> str:
    """``text`` with every changed word of ``sentence`` written in at its character span.

    Without character spans (token-id input) the sentence's ids are decoded with ``decode``.
    """
    if not any(w.changed for w in sentence.words):
        return text
    if any(w.changed and w.char_span is None for w in sentence.words):
        if decode is None:
            raise ValueError("render: a changed word has no character span and no decode function was given")
        return decode(sentence.ids())
    out, cursor = [], 0
    for word in sentence.words:
        if word.changed and word.char_span is not None:
            a, b = word.char_span
            out.append(text[cursor:a])
            out.append(match_case(text[a:b], word.text))
            cursor = b
    out.append(text[cursor:])
    return "".join(out)


def match_case(original: str, new: str) -> str:
    """``new`` in the case pattern of ``original`` (``Good`` -> ``Great``, ``GOOD`` -> ``GREAT``);
    uncased tokenizers lower-case every word, the string keeps the writer's capitals."""
    if len(original) > 1 and original.isupper():
        return new.upper()
    if original[:1].isupper() and new[:1].islower():
        return new[:1].upper() + new[1:]
    return new


def without_word(text: str, sentence: Sentence, index: int, replacement: str = "") -> str:
    """``text`` (with ``sentence``'s changes) where word ``index`` is deleted or replaced by
    ``replacement`` (used to rank words by importance); a deleted word takes one adjacent space."""
    current = render(text, sentence)
    # map the word's original span through the changes made before it
    shift = 0
    for i, word in enumerate(sentence.words):
        if i == index:
            break
        if word.changed and word.char_span is not None:
            shift += len(word.text) - (word.char_span[1] - word.char_span[0])
    span = sentence.words[index].char_span
    if span is None:
        raise ValueError("without_word needs character offsets (string input with a fast tokenizer)")
    word = sentence.words[index]
    a = span[0] + shift
    b = a + (len(word.text) if word.changed else span[1] - span[0])
    if replacement:
        return current[:a] + replacement + current[b:]
    if b < len(current) and current[b] == " ":
        b += 1
    elif a > 0 and current[a - 1] == " ":
        a -= 1
    return current[:a] + current[b:]
