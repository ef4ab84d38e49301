"""What every word- and character-level text attack shares: input handling, constraints, results.

:class:`WordAttackBase` (an ART ``EvasionAttack``) owns the parameters common to
``text-hotflip``, ``text-wordswap`` and ``text-charswap`` (budget, constraints, targeted, batch
size), turns strings into :class:`~art_ext_plugins.text.attacks.words.Sentence` objects, checks every
proposed change against the constraints (recording their values), queries the model, and builds
the one result type, :class:`~art_ext_plugins.text.attacks.results.TextAttackResult`. A subclass
implements :meth:`WordAttackBase._attack_one` (the search for one sentence).

The budget ``max_perturb_ratio`` is the attack's own: at most ``max(1, floor(ratio * words))``
words change (a sentence of four words may still lose one: the budget rounds up to at least one
word); a constraint can only lower it (e.g. ``MaxWordsChanged(max_words=2)``). A correctly
classified sentence the budget or the constraints leave untouchable is a *failed* attack, never
left out of the success rate's denominator; only sentences the model already gets wrong are
``"skipped"``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art_ext_plugins.text.attacks.constraints import (
    Constraint,
    Swap,
    check_swaps,
    resolve_constraints,
)
from art_ext_plugins.text.attacks.results import SwapRecord, TextAttackResult
from art_ext_plugins.text.attacks.words import Sentence, last_word_cut, render, split_words
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.model.vocabulary import word_vocabulary
from tqdm.auto import tqdm

from art_ext import checks
from art_ext.attack_checks import atomic_set_params

logger = logging.getLogger(__name__)

__all__ = ["SentenceContext", "WordAttackBase", "softmax"]

COMMON_PARAMS = ["max_perturb_ratio", "constraints", "sentence_encoder", "word_encoder", "tagger", "targeted",
                 "batch_size", "verbose"]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


@dataclass
class SentenceContext:
    """One sentence under attack: its string, words as split, label, budget and query count."""

    text: str
    original: Sentence
    label: int
    budget: int
    queries: int = 0
    clean_probs: np.ndarray | None = None


class WordAttackBase(EvasionAttack):
    """Base of the word/character attacks (see the module docstring)."""

    attack_params = [*EvasionAttack.attack_params, *COMMON_PARAMS]
    kind = "word"
    #: whether the attack needs character offsets (a fast tokenizer) for string input
    needs_offsets = False

    def __init__(self, estimator: HuggingFaceTextClassifier, max_perturb_ratio: float = 0.2,
                 constraints: Any = "none", sentence_encoder: Any = None, word_encoder: Any = None,
                 tagger: Any = None, targeted: bool = False, batch_size: int = 64, verbose: bool = False) -> None:
        super().__init__(estimator=estimator)
        self.max_perturb_ratio = max_perturb_ratio
        self.constraints = constraints
        self.sentence_encoder = sentence_encoder
        self.word_encoder = word_encoder
        self.tagger = tagger
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        self.last_results: TextAttackResult | None = None
        self._vocabulary = word_vocabulary(estimator)
        WordAttackBase._check_params(self)

    def set_params(self, **kwargs: Any) -> None:
        """ART's ``set_params``, all or nothing (:func:`art_ext.attack_checks.atomic_set_params`)."""
        atomic_set_params(self, super().set_params, kwargs)

    def _check_params(self) -> None:
        checks.number(self.max_perturb_ratio, "max_perturb_ratio", low=0.0, high=1.0, low_inclusive=False)
        checks.integer(self.batch_size, "batch_size", minimum=1)
        checks.boolean(self._targeted, "targeted")
        checks.boolean(self.verbose, "verbose")
        self._resolve_constraints()
        if self.needs_offsets and not getattr(self.estimator.tokenizer, "is_fast", False):
            raise ValueError(f"{type(self).__name__} needs a fast tokenizer (character offsets); "
                             f"got {type(self.estimator.tokenizer).__name__}")

    def _resolve_constraints(self) -> None:
        """Resolve and bind the constraints, once per setting: subclasses check their parameters again
        after the base class, and loading a sentence encoder twice would double the cost."""
        settings = (self.constraints, self.sentence_encoder, self.word_encoder, self.tagger)
        previous = getattr(self, "_constraint_settings", None)
        if previous is not None and all(a is b for a, b in zip(previous, settings)):
            return
        self._constraints: list[Constraint] = resolve_constraints(
            self.constraints, sentence_encoder=self.sentence_encoder, word_encoder=self.word_encoder, tagger=self.tagger)
        for constraint in self._constraints:
            constraint.bind(self.estimator)
        self._constraint_settings = settings

    @property
    def constraint_list(self) -> list[Constraint]:
        """The resolved constraint objects."""
        return list(self._constraints)

    # ------------------------------------------------------------------ labels and queries
    def _labels(self, y: Any, n: int, preds: np.ndarray, name: str) -> np.ndarray:
        clf: HuggingFaceTextClassifier = self.estimator
        if y is None:
            if self.targeted:
                raise ValueError(f"{name}: target labels are required when targeted=True")
            return preds
        return checks.class_indices(y, nb_classes=clf.nb_classes, n=n, name=name)

    def _is_success(self, pred: int, label: int) -> bool:
        return pred == label if self.targeted else pred != label

    def _goal(self, probs: np.ndarray, label: int) -> np.ndarray:
        """Per row: how far along the attack is (1 - p(label), or p(target) when targeted)."""
        return probs[:, label] if self.targeted else 1.0 - probs[:, label]  # type: ignore[no-any-return]

    def _query(self, ctx: SentenceContext, texts: list[str]) -> np.ndarray:
        """Class probabilities of ``texts`` through the model's ``predict`` (counted as queries)."""
        if not texts:
            return np.zeros((0, self.estimator.nb_classes), np.float32)
        ctx.queries += len(texts)
        return softmax(self.estimator.predict(texts, batch_size=self.batch_size))

    # ------------------------------------------------------------------ sentences and constraints
    def _prepare(self, text: str, ids: Sequence[int], real: Sequence[bool],
                 offsets: Sequence[tuple[int, int]] | None, label: int) -> SentenceContext:
        cut = last_word_cut(text, real, offsets) if offsets is not None else False
        sentence = split_words(self._vocabulary, ids, real, offsets, cut)
        for word in sentence.words:
            if word.modifiable and not all(c.allows_word(word.text) for c in self._constraints):
                word.modifiable = False
        n_words = sentence.n_words
        budget = max(1, math.floor(self.max_perturb_ratio * n_words + 1e-9)) if n_words else 0
        for constraint in self._constraints:
            cap = constraint.budget(n_words)
            if cap is not None:
                budget = min(budget, cap)
        return SentenceContext(text, sentence, label, budget)

    def _decode(self, ids: list[int]) -> str:
        return str(self.estimator.tokenizer.decode(ids, skip_special_tokens=True))

    def _text_of(self, ctx: SentenceContext, state: Sentence) -> str:
        return render(ctx.text, state, self._decode)

    def _accept(self, ctx: SentenceContext, state: Sentence, proposals: Sequence[tuple[int, list[int], str]],
                kind: str | None = None) -> list[Sentence]:
        """The proposals ``(word index, tokens, new text)`` every constraint accepts, as new sentences
        whose last swap records the constraint values."""
        kind = kind or self.kind
        originals = tuple(ctx.original.originals())
        candidates, swaps = [], []
        for index, tokens, text in proposals:
            new = state.replaced(index, tokens, text)
            candidates.append(new)
            swaps.append(Swap(ctx.text, self._text_of(ctx, new), originals, tuple(new.texts()), index,
                              ctx.original.n_words, new.n_changed, kind))
        accepted = []
        for new, swap, values in zip(candidates, swaps, check_swaps(self._constraints, swaps)):
            if values is None:
                continue
            record = SwapRecord(swap.index, swap.old, swap.new, kind, {**values, "words_changed": swap.n_changed})
            new.swaps = (*state.swaps, record)
            accepted.append(new)
        return accepted

    # ------------------------------------------------------------------ the search (subclasses)
    def _attack_one(self, ctx: SentenceContext) -> Sentence:
        """Search for an adversarial version of ``ctx.original``; return the best sentence found."""
        raise NotImplementedError

    def _begin(self) -> None:
        """Called once per :meth:`attack_text` before the sentences (e.g. to build tables)."""

    # ------------------------------------------------------------------ public API
    def attack_text(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray | None = None) -> TextAttackResult:
        """Attack strings; returns the :class:`~art_ext_plugins.text.attacks.results.TextAttackResult`.

        Changed words are written into the original string at their character offsets, so the
        rest of the text stays as given. ``labels``: true labels (default: the model's
        predictions) or, with ``targeted=True``, the targets (required).
        """
        clf: HuggingFaceTextClassifier = self.estimator
        strings = clf._as_strings(texts)
        if not strings:
            result = self._result([], [], [], np.zeros(0, np.int64), np.zeros((0, clf.nb_classes)),
                                  np.zeros((0, clf.nb_classes)))
            self.last_results = result
            return result
        ids, mask = clf.encode(strings)
        clean = softmax(clf.predict(ids, attention_mask=mask, batch_size=self.batch_size))
        y = self._labels(labels, len(strings), clean.argmax(1), "labels")
        real = clf.real_token_mask(torch.as_tensor(ids), torch.as_tensor(mask)).numpy()
        offsets: list[list[tuple[int, int]] | None] = [None] * len(strings)
        if getattr(clf.tokenizer, "is_fast", False):
            enc = clf.tokenizer(strings, truncation=True, max_length=clf.max_length, return_offsets_mapping=True)
            offsets = [[(int(a), int(b)) for a, b in o] for o in enc["offset_mapping"]]
        contexts = []
        for r in range(len(strings)):
            length = int(mask[r].sum())
            contexts.append(self._prepare(strings[r], ids[r, :length].tolist(), real[r, :length].tolist(),
                                          offsets[r], int(y[r])))
        return self._run(contexts, clean)

    def _run(self, contexts: list[SentenceContext], clean: np.ndarray, ids_mode: bool = False) -> TextAttackResult:
        """Attack every context; success is judged on the rendered strings (``ids_mode``: on the
        final token ids, for token-id input)."""
        clf: HuggingFaceTextClassifier = self.estimator
        self._begin()
        finals: list[Sentence] = []
        statuses: list[str] = []
        seconds: list[float] = []
        with clf.eval_mode():
            for ctx in tqdm(contexts, disable=not self.verbose, desc=type(self).__name__):
                start = time.perf_counter()
                ctx.queries = 1  # the clean prediction
                ctx.clean_probs = clean[len(finals)]
                ok = self._is_success(int(ctx.clean_probs.argmax()), ctx.label)
                if ok:  # nothing to attack: the model already gets it wrong
                    finals.append(ctx.original)
                    statuses.append("skipped")
                elif ctx.budget == 0 or not any(w.modifiable for w in ctx.original.words):
                    finals.append(ctx.original)  # an attack that cannot touch it has failed on it
                    statuses.append("untouchable")
                    ctx.queries += 1  # the final check of the returned string, as for every attacked one
                else:
                    finals.append(self._attack_one(ctx))
                    statuses.append("attacked")
                    ctx.queries += 1  # the final check of the returned string
                seconds.append(time.perf_counter() - start)
        advs = [self._text_of(ctx, final) for ctx, final in zip(contexts, finals)]
        final_ids = [f.ids() for f in finals] if ids_mode else None
        if final_ids is not None:
            width = max(len(r) for r in final_ids)
            padded = np.full((len(final_ids), width), clf.pad_token_id, dtype=np.int64)
            for r, row in enumerate(final_ids):
                padded[r, : len(row)] = row
            after = softmax(clf.predict(padded, batch_size=self.batch_size))
        else:
            after = softmax(clf.predict(advs, batch_size=self.batch_size))
        return self._result(contexts, finals, advs, np.asarray([c.label for c in contexts]), clean, after,
                            statuses, seconds, final_ids)

    def _result(self, contexts: list[SentenceContext], finals: list[Sentence], advs: list[str], labels: np.ndarray,
                clean: np.ndarray, after: np.ndarray, statuses: list[str] | None = None,
                seconds: list[float] | None = None, adv_ids: list[list[int]] | None = None) -> TextAttackResult:
        statuses = statuses or []
        success, status = [], []
        for i, st in enumerate(statuses):
            ok = st != "skipped" and self._is_success(int(after[i].argmax()), int(labels[i]))
            success.append(ok)
            status.append("skipped" if st == "skipped" else "success" if ok else "failed")
        if adv_ids is None:
            adv_ids = [self.estimator.encode([a])[0][0].tolist() for a in advs] if advs else []
        result = TextAttackResult(
            original_texts=[c.text for c in contexts], adversarial_texts=list(advs),
            labels=[int(v) for v in labels], original_pred=[int(v) for v in clean.argmax(1)],
            adversarial_pred=[int(v) for v in after.argmax(1)], success=success, status=status,
            words_changed=[f.n_changed for f in finals], n_words=[c.original.n_words for c in contexts],
            queries=[c.queries for c in contexts], seconds=list(seconds or []), adversarial_ids=adv_ids,
            original_confidence=[float(p.max()) for p in clean], adversarial_confidence=[float(p.max()) for p in after],
            swaps=[list(f.swaps) for f in finals], attack=type(self).__name__, targeted=bool(self.targeted),
            constraints=[c.describe() for c in self._constraints],
        )
        self.last_results = result
        return result

    def generate(self, x: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """ART entry point: strings in -> adversarial strings out (object array); token ids
        ``(N, L)`` in -> token ids of the adversarial text out (re-encoded, padded or cut to ``L``).

        ``y``: true labels (default: predictions) or targets (``targeted=True``). Per-sentence
        details are kept in :attr:`last_results`.
        """
        clf: HuggingFaceTextClassifier = self.estimator
        kind = clf._classify_input(x)
        if kind == "text":
            return np.asarray(self.attack_text(clf._as_strings(x), y).adversarial_texts, dtype=object)
        ids, mask = clf.to_ids(x, kwargs.get("attention_mask"))
        texts = [self._decode(ids[r, : int(mask[r].sum())].tolist()) for r in range(len(ids))]
        result = self.attack_text(texts, y)
        out = np.full_like(ids, clf.pad_token_id)
        for r, row in enumerate(result.adversarial_ids):
            row = row[: ids.shape[1]]
            out[r, : len(row)] = row
        return out
