"""Whole-word vocabulary of a Hugging Face tokenizer, shared by HotFlip and FreeLB's token swaps.

The tokenization scheme is detected from the vocabulary: WordPiece (``##`` marks a word's
continuation), byte-level BPE (``\u0120`` marks a word start after a space) or SentencePiece
(``\u2581`` marks a word start). Substitutes are whole-word tokens of at least two letters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

BPE_SPACE = "\u0120"
SP_SPACE = "\u2581"


@dataclass
class WordVocabulary:
    """The tokenizer's tokens, its scheme and the ids usable as whole-word substitutes.

    ``spaced``: tokens that start a word after a space (every WordPiece whole-word token);
    ``plain``: BPE tokens for a word with no space before it (the first word of a RoBERTa
    sentence); equal to ``spaced`` for the other schemes.
    """

    tokens: list[str]
    scheme: str
    spaced: torch.Tensor
    plain: torch.Tensor

    def surface(self, token_id: int) -> str:
        """The token's text without its word-start or continuation marker."""
        tok = self.tokens[token_id]
        if self.scheme == "wordpiece":
            return tok[2:] if tok.startswith("##") else tok
        return tok.lstrip(BPE_SPACE + SP_SPACE)

    def continues_word(self, tok: str) -> bool:
        """Whether ``tok`` continues a preceding word that ends in a letter or digit."""
        if self.scheme == "wordpiece":
            return tok.startswith("##")
        marker = BPE_SPACE if self.scheme == "bpe" else SP_SPACE
        return not tok.startswith(marker) and tok[:1].isalnum()

    def starts_word(self, tok: str, prev: str | None) -> bool:
        """Whether token ``tok`` starts a new word when it follows token ``prev``."""
        if prev is None:
            return True
        if self.scheme == "wordpiece":
            return not self.continues_word(tok)
        prev_core = prev.lstrip(BPE_SPACE if self.scheme == "bpe" else SP_SPACE)
        return not (self.continues_word(tok) and prev_core[-1:].isalnum())

def detect_scheme(tokens: list[str]) -> str:
    if any(t.startswith("##") for t in tokens):
        return "wordpiece"
    if sum(t.startswith(BPE_SPACE) for t in tokens) > 10:
        return "bpe"
    if sum(t.startswith(SP_SPACE) for t in tokens) > 10:
        return "sentencepiece"
    return "wordpiece"


def word_vocabulary(clf: HuggingFaceTextClassifier) -> WordVocabulary:
    """The :class:`WordVocabulary` of ``clf``'s tokenizer (special tokens are never substitutes)."""
    raw = clf.tokenizer.convert_ids_to_tokens(list(range(len(clf.tokenizer))))
    tokens: list[str] = [t if isinstance(t, str) else "" for t in raw]
    scheme = detect_scheme(tokens)
    special = set(clf.special_ids.tolist())
    start_ids, inner_ids = [], []
    for i, tok in enumerate(tokens):
        if i in special or not tok:
            continue
        if scheme == "wordpiece":
            if not tok.startswith("##") and tok.isalpha() and len(tok) >= 2:
                start_ids.append(i)
        elif scheme == "bpe":
            if tok.startswith(BPE_SPACE) and tok[1:].isalpha() and len(tok) >= 3:
                start_ids.append(i)
            elif tok.isalpha() and len(tok) >= 2:
                inner_ids.append(i)
        elif tok.startswith(SP_SPACE) and tok[1:].isalpha() and len(tok) >= 3:
            start_ids.append(i)
    if not start_ids:
        raise ValueError("tokenizer: no whole-word alphabetic tokens found to use as substitutes")
    spaced = torch.as_tensor(start_ids, dtype=torch.long)
    plain = torch.as_tensor(inner_ids, dtype=torch.long) if inner_ids else spaced
    return WordVocabulary(tokens, scheme, spaced, plain)
