"""Black-box greedy word substitution with embedding nearest neighbours (TextFooler-style).

Paper: Jin, Jin, Zhou and Szolovits, "Is BERT Really Robust? A Strong Baseline for Natural
Language Attack on Text Classification and Entailment" (TextFooler), AAAI 2020; the search is
TextAttack's ``GreedyWordSwapWIR`` (Morris et al. 2020).

The model is queried only through ``estimator.predict`` (class scores of strings), and every
query is counted. Per sentence:

1. **word importance**: every word that may change is deleted (``importance="delete"``) or
   replaced by the tokenizer's unknown token (``"unk"``), and ranked by how much that lowers
   the probability of the label (raises the target's, when targeted): one query per word;
2. **greedy substitution**, most important word first: the ``n_candidates`` nearest whole-word
   neighbours of the word (cosine in ``candidate_embeddings``) that every constraint accepts are
   queried in one batch; a candidate that succeeds ends the search (the one with the largest
   margin), otherwise the best one is kept if it moves the prediction towards success, and the
   search goes on with the next word, until the budget (``max_perturb_ratio`` of the words) is spent.

Distance: number of words changed. Candidates are words of the model's own vocabulary, so they
re-tokenize to one token.

Arguments (defaults): ``max_perturb_ratio=0.2``, ``importance="delete"``, ``n_candidates=30``,
``candidate_embeddings=None`` (the attacked model's input embeddings; or a local model folder
or a :class:`~art_ext_plugins.text.model.encoders.TokenEmbeddingEncoder` for a model-independent
neighbour list), ``constraints="none"`` (a preset or a list), ``sentence_encoder=None``,
``word_encoder=None``, ``tagger=None``, ``targeted=False``, ``batch_size=64``, ``verbose=False``.

Example::

    attack = art_ext.get_attack("text-wordswap", classifier, constraints="a2t")
    result = attack.attack_text(["a gorgeous , witty , seductive movie ."], labels=[1])
    result.adversarial_texts[0], result.queries[0], result.swaps[0]  # what it produced
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator
from art_ext_plugins.text.attacks.word_attack import SentenceContext, WordAttackBase
from art_ext_plugins.text.attacks.words import Sentence, without_word
from art_ext_plugins.text.model.encoders import TokenEmbeddingEncoder, as_encoder
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

from art_ext import checks

__all__ = ["GreedySubstitution", "WordSwap"]


class GreedySubstitution(WordAttackBase):
    """Black-box greedy search by word importance; subclasses propose the changes of one word."""

    attack_params = [*WordAttackBase.attack_params, "importance"]
    _estimator_requirements = (BaseEstimator, ClassifierMixin, HuggingFaceTextClassifier)
    needs_offsets = True

    def __init__(self, estimator: HuggingFaceTextClassifier, importance: str = "delete", **kwargs: Any) -> None:
        self.importance = importance
        super().__init__(estimator, **kwargs)

    def _check_params(self) -> None:
        super()._check_params()
        checks.choice(self.importance, "importance", ("delete", "unk"))
        if self.importance == "unk" and not getattr(self.estimator.tokenizer, "unk_token", None):
            raise ValueError("importance='unk' needs a tokenizer with an unknown token; use importance='delete'")

    def _proposals(self, ctx: SentenceContext, state: Sentence, index: int) -> list[tuple[int, list[int], str]]:
        raise NotImplementedError

    def _ranked_words(self, ctx: SentenceContext) -> list[int]:
        """Modifiable words, most important first (ties: left to right)."""
        indices = [i for i, w in enumerate(ctx.original.words) if w.modifiable]
        replacement = "" if self.importance == "delete" else str(self.estimator.tokenizer.unk_token)
        texts = [without_word(ctx.text, ctx.original, i, replacement) for i in indices]
        probs = self._query(ctx, texts)
        assert ctx.clean_probs is not None
        gain = self._goal(probs, ctx.label) - float(self._goal(ctx.clean_probs[None], ctx.label)[0])
        order = np.argsort(-gain, kind="stable")
        return [indices[i] for i in order]

    def _attack_one(self, ctx: SentenceContext) -> Sentence:
        assert ctx.clean_probs is not None
        state = ctx.original
        current = float(self._goal(ctx.clean_probs[None], ctx.label)[0])
        for index in self._ranked_words(ctx):
            if state.n_changed >= ctx.budget:
                break
            accepted = self._accept(ctx, state, self._proposals(ctx, state, index))
            if not accepted:
                continue
            probs = self._query(ctx, [self._text_of(ctx, s) for s in accepted])
            goals = self._goal(probs, ctx.label)
            preds = probs.argmax(1)
            wins = [j for j in range(len(accepted)) if self._is_success(int(preds[j]), ctx.label)]
            best = max(wins, key=lambda j: goals[j]) if wins else int(np.argmax(goals))
            if wins or goals[best] > current:
                state, current = accepted[best], float(goals[best])
                state.pred, state.loss = int(preds[best]), current
            if wins:
                break
        return state


class WordSwap(GreedySubstitution):
    """Black-box greedy word substitution (see the module docstring)."""

    attack_params = [*GreedySubstitution.attack_params, "n_candidates", "candidate_embeddings"]

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        max_perturb_ratio: float = 0.2,
        importance: str = "delete",
        n_candidates: int = 30,
        candidate_embeddings: Any = None,
        constraints: Any = "none",
        sentence_encoder: Any = None,
        word_encoder: Any = None,
        tagger: Any = None,
        targeted: bool = False,
        batch_size: int = 64,
        verbose: bool = False,
    ) -> None:
        self.n_candidates = n_candidates
        self.candidate_embeddings = candidate_embeddings
        self._neighbours: tuple[Any, torch.Tensor, list[str]] | None = None
        super().__init__(estimator, importance=importance, max_perturb_ratio=max_perturb_ratio,
                         constraints=constraints, sentence_encoder=sentence_encoder, word_encoder=word_encoder,
                         tagger=tagger, targeted=targeted, batch_size=batch_size, verbose=verbose)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        checks.integer(self.n_candidates, "n_candidates", minimum=1)
        source = self.candidate_embeddings
        if source is not None and not (isinstance(source, (str, os.PathLike)) or hasattr(source, "encode") or callable(source)):
            raise TypeError("candidate_embeddings must be None, a model folder, an encoder or a callable, "
                            f"got {type(source).__name__}")
        self._neighbours = None

    def _table(self) -> tuple[Any, torch.Tensor, list[str]]:
        """(encoder, unit vectors, words) of the candidate vocabulary, built once."""
        if self._neighbours is None:
            source = self.candidate_embeddings
            if source is None:
                encoder: Any = TokenEmbeddingEncoder.from_classifier(self.estimator)
            elif isinstance(source, (str, os.PathLike)):
                encoder = TokenEmbeddingEncoder.from_pretrained(source)
            else:
                encoder = as_encoder(source, "candidate_embeddings")
            words = [self._vocabulary.surface(int(i)) for i in self._vocabulary.spaced.tolist()]
            unit = torch.nn.functional.normalize(encoder.encode(words).float(), dim=1)
            self._neighbours = (encoder, unit, words)
        return self._neighbours

    def _proposals(self, ctx: SentenceContext, state: Sentence, index: int) -> list[tuple[int, list[int], str]]:
        encoder, unit, words = self._table()
        old = state.words[index].original
        sims = unit @ torch.nn.functional.normalize(encoder.encode([old]).float(), dim=1)[0]
        same = torch.as_tensor([w.lower() == old.lower() for w in words])
        sims[same] = -torch.inf
        for constraint in self._constraints:
            if "word" in constraint.applies_to:
                allowed = constraint.candidate_mask([old], "wordswap", words)
                if allowed is not None:
                    sims[~allowed[0]] = -torch.inf
        top = torch.topk(sims, min(self.n_candidates, len(words)))
        ids = self._vocabulary.spaced
        return [(index, [int(ids[j])], words[j]) for s, j in zip(top.values.tolist(), top.indices.tolist())
                if s > -float("inf")]
