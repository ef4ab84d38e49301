"""HotFlip-style gradient-guided word substitution that produces real adversarial text.

Paper: Ebrahimi, Rao, Lowd and Dou, "HotFlip: White-Box Adversarial Examples for Text
Classification", ACL 2018. The loss change of swapping the token at position ``i`` (embedding
``e_i``) for vocabulary token ``v`` is estimated to first order as ``(E_v - e_i) . grad_i``, where
``grad_i`` is the loss gradient w.r.t. the input embedding; all swaps of all positions are scored
with one gradient computation. The best estimated swaps that every constraint accepts are then
checked with real forward passes (greedy: keep the best; beam: keep the ``beam_width`` best).

Distance: number of words changed, at most ``max_perturb_ratio`` of the sentence's words
(rounded down; words are the tokenizer's words that contain a letter or digit). This is the
attack's budget; there is no ``eps``.

Structural rules, always: special tokens and padding are never changed or inserted; substitutes
are whole-word vocabulary tokens made of letters; each word changes at most once; a word of
several WordPiece/BPE pieces is replaced as a whole by one token (its score uses the gradient at
its first piece); punctuation and numbers never change. Everything else is a constraint
(``constraints=``, :mod:`art_ext_plugins.text.attacks.constraints`): stop words, word-embedding cosine,
sentence similarity, part of speech, a tighter word budget; a preset name or a list.

Arguments (defaults): ``max_perturb_ratio=0.2``, ``search="greedy"`` (or ``"beam"``),
``beam_width=3``, ``top_k=12`` candidates checked per step and beam, ``constraints="none"``
(``"hotflip-paper"``, ``"a2t"``, ``"strict"`` or a list of constraint objects),
``sentence_encoder=None`` / ``word_encoder=None`` / ``tagger=None`` (used by the presets),
``targeted=False``, ``batch_size=64`` (candidate forward passes), ``verbose=False``.

Model queries count every forward pass on one sentence: the clean prediction, one per gradient,
one per checked candidate, and the final check of the returned text.

Example::

    attack = HotFlip(classifier, max_perturb_ratio=0.2, constraints="hotflip-paper")
    result = attack.attack_text(["a gorgeous , witty , seductive movie ."], labels=[1])
    result.adversarial_texts[0], result.success[0], result.swaps[0], result.queries[0]  # what it produced
    adv_ids = attack.generate(ids)  # ART EvasionAttack on token ids (N, L) -> (N, L)
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text.attacks.constraints import ENGLISH_STOPWORDS
from art_ext_plugins.text.attacks.results import HotFlipResults, TextAttackResult
from art_ext_plugins.text.attacks.word_attack import SentenceContext, WordAttackBase, softmax
from art_ext_plugins.text.attacks.words import Sentence
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.model.vocabulary import BPE_SPACE

from art_ext import checks

logger = logging.getLogger(__name__)

__all__ = ["ENGLISH_STOPWORDS", "HotFlip", "HotFlipResults", "TextAttackResult"]


class HotFlip(WordAttackBase):
    """Gradient-guided whole-word substitution (see the module docstring)."""

    attack_params = [*WordAttackBase.attack_params, "search", "beam_width", "top_k"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin, HuggingFaceTextClassifier)

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        max_perturb_ratio: float = 0.2,
        search: str = "greedy",
        beam_width: int = 3,
        top_k: int = 12,
        constraints: Any = "none",
        sentence_encoder: Any = None,
        word_encoder: Any = None,
        tagger: Any = None,
        targeted: bool = False,
        batch_size: int = 64,
        verbose: bool = False,
    ) -> None:
        self.search = search
        self.beam_width = beam_width
        self.top_k = top_k
        super().__init__(estimator, max_perturb_ratio=max_perturb_ratio, constraints=constraints,
                         sentence_encoder=sentence_encoder, word_encoder=word_encoder, tagger=tagger,
                         targeted=targeted, batch_size=batch_size, verbose=verbose)
        self._check_params()

    def _check_params(self) -> None:
        super()._check_params()
        checks.choice(self.search, "search", ("greedy", "beam"))
        checks.integer(self.beam_width, "beam_width", minimum=1)
        checks.integer(self.top_k, "top_k", minimum=1)

    # ------------------------------------------------------------------ model calls
    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        clf: HuggingFaceTextClassifier = self.estimator
        length = max(len(r) for r in rows)
        ids = np.full((len(rows), length), clf.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return torch.as_tensor(ids, device=clf.device), torch.as_tensor(mask, device=clf.device)

    def _evaluate(self, states: list[Sentence], label: int) -> tuple[np.ndarray, np.ndarray]:
        """Loss (to maximise) and prediction of each state, in batches (float32, eval mode)."""
        clf: HuggingFaceTextClassifier = self.estimator
        losses, preds = [], []
        for start in range(0, len(states), self.batch_size):
            chunk = states[start : start + self.batch_size]
            ids_t, mask_t = self._pad([s.ids() for s in chunk])
            with torch.no_grad():
                logits = clf.logits_from_ids(ids_t, mask_t).float()
            y = torch.full((len(chunk),), label, device=clf.device)
            loss = torch.nn.functional.cross_entropy(logits, y, reduction="none")
            losses.append((-loss if self.targeted else loss).cpu().numpy())
            preds.append(logits.argmax(1).cpu().numpy())
        return np.concatenate(losses), np.concatenate(preds)

    def _gradients(self, states: list[Sentence], label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and gradients of the attack loss (to maximise), (B, L, D) each."""
        clf: HuggingFaceTextClassifier = self.estimator
        ids_t, mask_t = self._pad([s.ids() for s in states])
        emb = clf.embed(ids_t).detach().float().requires_grad_(True)
        logits = clf.logits_from_embeddings(emb, mask_t).float()
        y = torch.full((len(states),), label, device=clf.device)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(-loss if self.targeted else loss, emb)
        return emb.detach(), grad

    def _begin(self) -> None:
        """Per candidate vocabulary (plain/spaced): ids, embeddings, surfaces."""
        clf: HuggingFaceTextClassifier = self.estimator
        matrix = clf.embedding_matrix.float()
        self._tables = {}
        for plain, cand in ((False, self._vocabulary.spaced), (True, self._vocabulary.plain)):
            cand = cand.to(matrix.device)
            self._tables[plain] = (cand, matrix[cand], [self._vocabulary.surface(int(i)) for i in cand.tolist()])

    def _candidates(self, states: list[Sentence], label: int) -> list[tuple[float, int, int, int]]:
        """Estimated swaps ``(score, state index, word index, token id)``, best first: each word's
        ``top_k`` after the vectorised constraints (word-embedding cosine)."""
        emb, grad = self._gradients(states, label)
        found: list[tuple[float, int, int, int]] = []
        for b, state in enumerate(states):
            groups: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
            pos = len(state.prefix)
            for w_index, word in enumerate(state.words):
                start, pos = pos, pos + len(word.tokens)
                if word.changed or not word.modifiable:
                    continue
                vocab = self._vocabulary
                plain = vocab.scheme == "bpe" and not vocab.tokens[word.tokens[0]].startswith(BPE_SPACE)
                groups[plain].append((w_index, start))
            for plain, items in groups.items():
                if not items:
                    continue
                cand, rows, surfaces = self._tables[plain]
                starts = torch.as_tensor([p for _, p in items], device=grad.device)
                g = grad[b, starts]  # (W, D)
                scores = g @ rows.T - (emb[b, starts] * g).sum(dim=1, keepdim=True)  # (W, V')
                firsts = torch.as_tensor([state.words[w].tokens[0] for w, _ in items], device=grad.device)
                scores[cand[None, :] == firsts[:, None]] = -math.inf
                old = [state.words[w].original for w, _ in items]
                for constraint in self._constraints:
                    if "word" in constraint.applies_to:
                        allowed = constraint.candidate_mask(old, f"hotflip-{plain}", surfaces)
                        if allowed is not None:
                            scores[~allowed.to(scores.device)] = -math.inf
                k = min(self.top_k, scores.shape[1])
                top = torch.topk(scores, k, dim=1)
                for row, (w_index, _) in enumerate(items):
                    for s, idx in zip(top.values[row].tolist(), top.indices[row].tolist()):
                        if s > -math.inf:
                            found.append((s, b, w_index, int(cand[idx])))
        found.sort(key=lambda t: -t[0])
        return found

    # ------------------------------------------------------------------ search
    def _attack_one(self, ctx: SentenceContext) -> Sentence:
        beam = [ctx.original]
        width = 1 if self.search == "greedy" else self.beam_width
        best = ctx.original
        for _ in range(ctx.budget):
            found = self._candidates(beam, ctx.label)
            ctx.queries += len(beam)
            wanted = self.top_k * len(beam)
            seen: set[tuple[int, ...]] = set()
            new_states: list[Sentence] = []
            for start in range(0, len(found), wanted):
                by_beam: dict[int, list[tuple[int, list[int], str]]] = {}
                for _, b, w_index, token in found[start : start + wanted]:
                    by_beam.setdefault(b, []).append((w_index, [token], self._vocabulary.surface(token)))
                for b, proposals in by_beam.items():
                    for new in self._accept(ctx, beam[b], proposals):
                        key = tuple(new.ids())
                        if key not in seen:
                            seen.add(key)
                            new_states.append(new)
                if len(new_states) >= wanted:
                    break
            new_states = new_states[:wanted]
            if not new_states:
                break
            losses, preds = self._evaluate(new_states, ctx.label)
            ctx.queries += len(new_states)
            for st, loss, pred in zip(new_states, losses, preds):
                st.loss, st.pred = float(loss), int(pred)
            order = np.argsort(-losses, kind="stable")
            winners = [new_states[i] for i in order if self._is_success(new_states[i].pred, ctx.label)]
            if winners:
                return winners[0]
            beam = [new_states[i] for i in order[:width]]
            best = beam[0]
        return best

    # ------------------------------------------------------------------ token-id input
    def generate(self, x: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Adversarial token ids ``(N, L)`` for token ids (or strings) ``x``.

        ``y``: true labels (default: predictions) or targets (``targeted=True``). Replacing a
        multi-piece word by one token shortens the sequence; it is re-padded with the pad id.
        Success is judged on the returned ids; details are kept in :attr:`last_results`.
        """
        clf: HuggingFaceTextClassifier = self.estimator
        ids, mask = clf.to_ids(x, kwargs.get("attention_mask"))
        clean = softmax(clf.predict(ids, attention_mask=mask)) if len(ids) else np.zeros((0, clf.nb_classes))
        labels = self._labels(y, len(ids), clean.argmax(1), "y")
        real = clf.real_token_mask(torch.as_tensor(ids), torch.as_tensor(mask)).numpy()
        contexts = []
        for r in range(len(ids)):
            length = int(mask[r].sum())
            row = ids[r, :length].tolist()
            contexts.append(self._prepare(self._decode(row), row, real[r, :length].tolist(), None, int(labels[r])))
        if not contexts:
            return ids.copy()
        result = self._run(contexts, clean, ids_mode=True)
        adv = np.full_like(ids, clf.pad_token_id)
        for r, row in enumerate(result.adversarial_ids):
            adv[r, : len(row)] = row
        return adv
