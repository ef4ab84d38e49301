"""HotFlip-style gradient-guided word substitution that produces real adversarial text.

Paper: Ebrahimi, Rao, Lowd and Dou, "HotFlip: White-Box Adversarial Examples for Text
Classification", ACL 2018. The loss change of swapping the token at position ``i`` (embedding
``e_i``) for vocabulary token ``v`` is estimated to first order as ``(E_v - e_i) . grad_i``, where
``grad_i`` is the loss gradient w.r.t. the input embedding; all swaps of all positions are scored
with one gradient computation. The best ``top_k`` estimated swaps are then checked with real
forward passes (greedy: keep the best; beam: keep the ``beam_width`` best sequences).

Distance: number of words changed (at most ``max_perturb_ratio`` of the sentence's words,
rounded down; words are the tokenizer's pre-tokenized words that contain a letter or digit).

Constraints, all enforced on every returned example:

* special tokens (``[CLS]``, ``[SEP]``, ``<s>``, ...) and padding are never changed, and never
  inserted; substitutes are whole-word vocabulary tokens made of letters only;
* each word changes at most once; a word made of several WordPiece/BPE pieces is replaced as a
  whole by one whole-word token (its first-order score uses the gradient at its first piece);
* ``protect_stopwords=True`` (default) keeps English stop words (or your ``stopwords`` set);
* ``min_cos_sim`` (default ``None``: off) requires cosine similarity >= that value between the
  original word's input embedding (mean of its pieces) and the substitute's;
* only words of at least two letters are substituted; punctuation and numbers are never changed.

Arguments (defaults): ``max_perturb_ratio=0.2``, ``search="greedy"`` (or ``"beam"``),
``beam_width=3``, ``top_k=12`` swaps checked per step and beam, ``protect_stopwords=True``,
``stopwords=None``, ``min_cos_sim=None``, ``targeted=False``, ``batch_size=64`` (candidate
forward passes), ``verbose=False``.

Model queries count every forward pass on one sentence: the clean prediction, one per gradient,
one per checked candidate, and the final check of the returned text.

Example::

    attack = HotFlip(classifier, max_perturb_ratio=0.2)
    results = attack.attack_text(["a gorgeous , witty , seductive movie ."], labels=[1])
    print(results.adversarial_texts[0], results.success[0], results.words_changed[0], results.queries[0])
    adv_ids = attack.generate(ids)  # ART EvasionAttack on token ids (N, L) -> (N, L)
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text._vocabulary import BPE_SPACE, word_vocabulary
from art_ext_plugins.text.estimator import HuggingFaceTextClassifier
from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

__all__ = ["ENGLISH_STOPWORDS", "HotFlip", "HotFlipResults"]

# NLTK's English stop-word list (public domain), as used by TextAttack's StopwordModification.
ENGLISH_STOPWORDS = frozenset(["a", "about", "above", "after", "again", "against", "ain", "all", "am", "an", "and", "any", "are", "aren", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "couldn", "couldn't", "d", "did", "didn", "didn't", "do", "does", "doesn", "doesn't", "doing", "don", "don't", "down", "during", "each", "few", "for", "from", "further", "had", "hadn", "hadn't", "has", "hasn", "hasn't", "have", "haven", "haven't", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "isn", "isn't", "it", "it's", "its", "itself", "just", "ll", "m", "ma", "me", "mightn", "mightn't", "more", "most", "mustn", "mustn't", "my", "myself", "needn", "needn't", "no", "nor", "not", "now", "o", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "re", "s", "same", "shan", "shan't", "she", "she's", "should", "should've", "shouldn", "shouldn't", "so", "some", "such", "t", "than", "that", "that'll", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "ve", "very", "was", "wasn", "wasn't", "we", "were", "weren", "weren't", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "won", "won't", "wouldn", "wouldn't", "y", "you", "you'd", "you'll", "you're", "you've", "your", "yours", "yourself", "yourselves"])


@dataclass
class _Word:
    tokens: list[int]
    text: str
    modifiable: bool
    counts: bool
    char_span: tuple[int, int] | None = None
    changed: bool = False


@dataclass
class _State:
    prefix: list[int]
    words: list[_Word]
    suffix: list[int]
    loss: float = -math.inf
    pred: int = -1

    def ids(self) -> list[int]:
        return self.prefix + [t for w in self.words for t in w.tokens] + self.suffix

    def replaced(self, index: int, token: int, text: str) -> _State:
        words = list(self.words)
        old = words[index]
        words[index] = _Word([token], text, False, old.counts, old.char_span, True)
        return _State(self.prefix, words, self.suffix)

    @property
    def n_changed(self) -> int:
        return sum(w.changed for w in self.words)


#: token ids, real-token flags, character offsets (strings only), whether truncation cut the last word
_Row = tuple[list[int], list[bool], list[tuple[int, int]] | None, bool]


def _last_word_cut(text: str, real: Sequence[bool], offsets: Sequence[tuple[int, int]] | None) -> bool:
    """Whether truncation ended the tokens inside a word (its rest was dropped, so never swap it)."""
    positions = [i for i, r in enumerate(real) if r]
    if offsets is None or not positions or positions[-1] >= len(offsets):
        return False
    end = offsets[positions[-1]][1]
    return 0 < end < len(text) and text[end - 1].isalnum() and text[end].isalnum()


@dataclass
class HotFlipResults:
    """Per-sentence outcome of :meth:`HotFlip.attack_text` (lists aligned with the input).

    ``status`` is ``"success"``, ``"failed"`` or ``"skipped"`` (already misclassified, or no
    word may change: empty text, too few words for the ratio, all words protected).
    ``success`` is True only for ``"success"``: the returned *string*, re-tokenized, is
    misclassified (or classified as the target). Success rate = successes / (not skipped).
    """

    original_texts: list[str]
    adversarial_texts: list[str]
    labels: list[int]
    original_pred: list[int]
    adversarial_pred: list[int]
    success: list[bool]
    status: list[str]
    words_changed: list[int]
    n_words: list[int]
    queries: list[int]
    seconds: list[float]
    adversarial_ids: list[list[int]] = field(default_factory=list)

    @property
    def attacked(self) -> int:
        return sum(s != "skipped" for s in self.status)

    @property
    def success_rate(self) -> float:
        return sum(self.success) / self.attacked if self.attacked else 0.0

    def summary(self) -> dict[str, float]:
        done = [i for i, s in enumerate(self.status) if s != "skipped"]
        ok = [i for i in done if self.success[i]]
        return {
            "n": len(self.status),
            "attacked": len(done),
            "skipped": len(self.status) - len(done),
            "success_rate": self.success_rate,
            "mean_words_changed": float(np.mean([self.words_changed[i] for i in ok])) if ok else 0.0,
            "mean_fraction_changed": float(np.mean([self.words_changed[i] / max(self.n_words[i], 1) for i in ok])) if ok else 0.0,
            "queries_per_sentence": float(np.mean([self.queries[i] for i in done])) if done else 0.0,
            "seconds_per_sentence": float(np.mean([self.seconds[i] for i in done])) if done else 0.0,
            "accuracy_after_attack": float(np.mean([p == y for p, y in zip(self.adversarial_pred, self.labels)])) if self.labels else 0.0,
        }


class HotFlip(EvasionAttack):
    """Gradient-guided whole-word substitution (see the module docstring)."""

    attack_params = [*EvasionAttack.attack_params, "max_perturb_ratio", "search", "beam_width", "top_k",
                     "protect_stopwords", "stopwords", "min_cos_sim", "targeted", "batch_size", "verbose"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin, HuggingFaceTextClassifier)

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        max_perturb_ratio: float = 0.2,
        search: str = "greedy",
        beam_width: int = 3,
        top_k: int = 12,
        protect_stopwords: bool = True,
        stopwords: Sequence[str] | None = None,
        min_cos_sim: float | None = None,
        targeted: bool = False,
        batch_size: int = 64,
        verbose: bool = False,
    ) -> None:
        super().__init__(estimator=estimator)
        self.max_perturb_ratio = max_perturb_ratio
        self.search = search
        self.beam_width = beam_width
        self.top_k = top_k
        self.protect_stopwords = protect_stopwords
        self.stopwords = frozenset(s.lower() for s in stopwords) if stopwords is not None else ENGLISH_STOPWORDS
        self.min_cos_sim = min_cos_sim
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        self._check_params()
        self._setup_vocabulary()
        self.last_results: HotFlipResults | None = None

    def _check_params(self) -> None:
        if not isinstance(self.max_perturb_ratio, (int, float)) or not 0 < self.max_perturb_ratio <= 1:
            raise ValueError(f"max_perturb_ratio must be in (0, 1], got {self.max_perturb_ratio!r}")
        if self.search not in ("greedy", "beam"):
            raise ValueError(f"search must be 'greedy' or 'beam', got {self.search!r}")
        if not isinstance(self.beam_width, int) or self.beam_width < 1:
            raise ValueError(f"beam_width must be a positive int, got {self.beam_width!r}")
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {self.top_k!r}")
        if self.min_cos_sim is not None and not (isinstance(self.min_cos_sim, (int, float)) and -1 <= self.min_cos_sim <= 1):
            raise ValueError(f"min_cos_sim must be None or in [-1, 1], got {self.min_cos_sim!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if not isinstance(self.protect_stopwords, bool):
            raise ValueError(f"protect_stopwords must be a bool, got {self.protect_stopwords!r}")

    # ------------------------------------------------------------------ vocabulary and words
    def _setup_vocabulary(self) -> None:
        self._vocabulary = word_vocabulary(self.estimator)

    def _split_words(self, ids: Sequence[int], real: Sequence[bool],
                     offsets: Sequence[tuple[int, int]] | None = None, cut_last: bool = False) -> _State:
        """Group the real tokens into words; ``cut_last``: truncation cut the last word, keep it."""
        positions = [i for i, r in enumerate(real) if r]
        first = positions[0] if positions else len(ids)
        last = positions[-1] + 1 if positions else len(ids)
        prefix, suffix = list(ids[:first]), list(ids[last:])
        words: list[_Word] = []
        prev: str | None = None
        spans: list[list[int]] = []
        for pos in range(first, last):
            tok = self._vocabulary.tokens[int(ids[pos])]
            if not spans or self._vocabulary.starts_word(tok, prev):
                spans.append([pos])
            else:
                spans[-1].append(pos)
            prev = tok
        for span in spans:
            toks = [int(ids[p]) for p in span]
            text = "".join(self._vocabulary.surface(t) for t in toks)
            counts = any(c.isalnum() for c in text)
            modifiable = text.isalpha() and len(text) >= 2 and not (
                self.protect_stopwords and text.lower() in self.stopwords)
            if cut_last and span is spans[-1]:
                modifiable = False
            char_span = (offsets[span[0]][0], offsets[span[-1]][1]) if offsets is not None else None
            words.append(_Word(toks, text, modifiable, counts, char_span))
        return _State(prefix, words, suffix)

    # ------------------------------------------------------------------ model calls
    def _evaluate(self, states: list[_State], label: int) -> tuple[np.ndarray, np.ndarray]:
        """Loss (to maximise) and prediction of each state, in batches."""
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

    def _pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        clf: HuggingFaceTextClassifier = self.estimator
        length = max(len(r) for r in rows)
        pad = clf.pad_token_id if clf.pad_token_id is not None else 0
        ids = np.full((len(rows), length), pad, dtype=np.int64)
        mask = np.zeros((len(rows), length), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = r
            mask[i, : len(r)] = 1
        return torch.as_tensor(ids, device=clf.device), torch.as_tensor(mask, device=clf.device)

    def _gradients(self, states: list[_State], label: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and gradients of the attack loss (to maximise), (B, L, D) each."""
        clf: HuggingFaceTextClassifier = self.estimator
        ids_t, mask_t = self._pad([s.ids() for s in states])
        emb = clf.embed(ids_t).detach().requires_grad_(True)
        logits = clf.logits_from_embeddings(emb, mask_t).float()
        y = torch.full((len(states),), label, device=clf.device)
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(-loss if self.targeted else loss, emb)
        return emb.detach(), grad

    def _candidate_tables(self) -> dict[bool, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per vocabulary kind (plain/spaced): candidate ids, their embeddings, unit embeddings."""
        clf: HuggingFaceTextClassifier = self.estimator
        matrix = clf.embedding_matrix
        tables = {}
        for plain, cand in ((False, self._vocabulary.spaced), (True, self._vocabulary.plain)):
            cand = cand.to(matrix.device)
            rows = matrix[cand]
            tables[plain] = (cand, rows, torch.nn.functional.normalize(rows, dim=1))
        return tables

    def _candidates(self, states: list[_State], label: int, original: _State) -> list[tuple[float, int, int, int]]:
        """Top estimated swaps ``(score, state index, word index, token id)`` over all beams."""
        clf: HuggingFaceTextClassifier = self.estimator
        emb, grad = self._gradients(states, label)
        matrix = clf.embedding_matrix
        tables = self._tables
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
                cand, rows, unit = tables[plain]
                starts = torch.as_tensor([p for _, p in items], device=grad.device)
                g = grad[b, starts]  # (W, D)
                scores = g @ rows.T - (emb[b, starts] * g).sum(dim=1, keepdim=True)  # (W, V')
                firsts = torch.as_tensor([state.words[w].tokens[0] for w, _ in items], device=grad.device)
                scores[cand[None, :] == firsts[:, None]] = -math.inf
                if self.min_cos_sim is not None:
                    origs = torch.stack([matrix[torch.as_tensor(original.words[w].tokens, device=matrix.device)].mean(0)
                                         for w, _ in items])
                    cos = torch.nn.functional.normalize(origs, dim=1) @ unit.T
                    scores[cos < self.min_cos_sim] = -math.inf
                k = min(self.top_k, scores.shape[1])
                top = torch.topk(scores, k, dim=1)
                for row, (w_index, _) in enumerate(items):
                    for s, idx in zip(top.values[row].tolist(), top.indices[row].tolist()):
                        if s > -math.inf:
                            found.append((s, b, w_index, int(cand[idx])))
        found.sort(key=lambda t: -t[0])
        return found[: self.top_k * len(states)]

    # ------------------------------------------------------------------ search
    def _attack_one(self, state: _State, label: int, clean_pred: int, budget: int) -> tuple[_State, int]:
        """Search for an adversarial state; returns (best state, queries spent)."""
        queries = 0
        beam = [state]
        width = 1 if self.search == "greedy" else self.beam_width
        best = state
        for _ in range(budget):
            cands = self._candidates(beam, label, state)
            queries += len(beam)
            seen: set[tuple[int, ...]] = set()
            new_states: list[_State] = []
            for _, b, w_index, token in cands:
                new = beam[b].replaced(w_index, token, self._vocabulary.surface(token))
                key = tuple(new.ids())
                if key in seen:
                    continue
                seen.add(key)
                new_states.append(new)
                if len(new_states) >= self.top_k * len(beam):
                    break
            if not new_states:
                break
            losses, preds = self._evaluate(new_states, label)
            queries += len(new_states)
            for st, loss, pred in zip(new_states, losses, preds):
                st.loss, st.pred = float(loss), int(pred)
            order = np.argsort(-losses)
            winners = [new_states[i] for i in order if self._is_success(new_states[i].pred, label)]
            if winners:
                return winners[0], queries
            beam = [new_states[i] for i in order[:width]]
            best = beam[0]
        return best, queries

    def _is_success(self, pred: int, label: int) -> bool:
        return pred == label if self.targeted else pred != label

    def _run(self, rows: list[_Row], labels: np.ndarray,
             clean_preds: np.ndarray) -> list[tuple[_State, _State, str, int, float]]:
        out = []
        clf: HuggingFaceTextClassifier = self.estimator
        self._tables = self._candidate_tables()
        with clf.eval_mode():
            for i, (ids, real, offsets, cut_last) in enumerate(tqdm(rows, disable=not self.verbose, desc="HotFlip")):
                t0 = time.perf_counter()
                state = self._split_words(ids, real, offsets, cut_last)
                label = int(labels[i])
                n_words = sum(w.counts for w in state.words)
                budget = math.floor(self.max_perturb_ratio * n_words + 1e-9)
                queries = 1  # the clean prediction
                original_ok = clean_preds[i] == label if not self.targeted else clean_preds[i] != label
                if not original_ok or budget == 0 or not any(w.modifiable for w in state.words):
                    out.append((state, state, "skipped", queries, time.perf_counter() - t0))
                    continue
                adv, spent = self._attack_one(state, label, int(clean_preds[i]), budget)
                status = "success" if adv.pred >= 0 and self._is_success(adv.pred, label) else "failed"
                out.append((state, adv, status, queries + spent, time.perf_counter() - t0))
        return out

    # ------------------------------------------------------------------ public API
    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial token ids ``(N, L)`` for token ids (or strings) ``x``.

        ``y``: true labels (default: predictions) or targets (``targeted=True``). Replacing a
        multi-piece word by one token shortens the sequence; it is re-padded with the pad id.
        Per-sentence details are kept in :attr:`last_results`.
        """
        clf: HuggingFaceTextClassifier = self.estimator
        ids, mask = clf.to_ids(x, kwargs.get("attention_mask"))
        preds = clf.predict(ids, attention_mask=mask).argmax(1) if len(ids) else np.zeros(0, np.int64)
        if y is None:
            if self.targeted:
                raise ValueError("y: target labels are required when targeted=True")
            labels = preds
        else:
            labels = clf._labels_to_index(y, len(ids))
        real = clf.real_token_mask(torch.as_tensor(ids), torch.as_tensor(mask)).numpy()
        rows: list[_Row] = []
        for r in range(len(ids)):
            length = int(mask[r].sum())
            rows.append((ids[r, :length].tolist(), real[r, :length].tolist(), None, False))
        outcome = self._run(rows, labels, preds)
        pad = clf.pad_token_id if clf.pad_token_id is not None else 0
        adv = np.full_like(ids, pad)
        for r, (_, state, _, _, _) in enumerate(outcome):
            row = state.ids()
            adv[r, : len(row)] = row
        final = clf.predict(adv).argmax(1) if len(ids) else preds
        self.last_results = self._results(
            [clf.tokenizer.decode(ids[r, : int(mask[r].sum())], skip_special_tokens=True) for r in range(len(ids))],
            [clf.tokenizer.decode(adv[r], skip_special_tokens=True) for r in range(len(ids))],
            labels, preds, final, outcome, [adv[r].tolist() for r in range(len(ids))], extra_query=True,
        )
        return adv

    def attack_text(self, texts: Sequence[str], labels: Sequence[int] | np.ndarray | None = None) -> HotFlipResults:
        """Attack strings; returns adversarial strings, success flags, words changed, queries.

        Changed words are substituted in the original string at their character offsets, so the
        rest of the text stays exactly as given. ``success`` is decided on the returned string,
        re-tokenized and classified again. ``labels`` default to the model's predictions.
        """
        clf: HuggingFaceTextClassifier = self.estimator
        strings = clf._as_strings(texts)
        if not strings:
            return self._results([], [], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), [], [])
        ids, mask = clf.encode(strings)
        preds = clf.predict(ids, attention_mask=mask).argmax(1)
        if labels is None:
            if self.targeted:
                raise ValueError("labels: target labels are required when targeted=True")
            y = preds
        else:
            y = clf._labels_to_index(labels, len(strings))
        real = clf.real_token_mask(torch.as_tensor(ids), torch.as_tensor(mask)).numpy()
        offsets: list[list[tuple[int, int]] | None] = [None] * len(strings)
        if getattr(clf.tokenizer, "is_fast", False):
            enc = clf.tokenizer(strings, truncation=True, max_length=clf.max_length, return_offsets_mapping=True)
            offsets = [list(map(tuple, o)) for o in enc["offset_mapping"]]
        rows: list[_Row] = []
        for r in range(len(strings)):
            length = int(mask[r].sum())
            row_real = real[r, :length].tolist()
            rows.append((ids[r, :length].tolist(), row_real, offsets[r], _last_word_cut(strings[r], row_real, offsets[r])))
        outcome = self._run(rows, y, preds)
        adv_texts = []
        for text, (orig, state, _, _, _) in zip(strings, outcome):
            adv_texts.append(self._render(text, orig, state))
        final = clf.predict(adv_texts).argmax(1)
        results = self._results(strings, adv_texts, y, preds, final, outcome,
                                [s.ids() for _, s, _, _, _ in outcome], extra_query=True)
        self.last_results = results
        return results

    def _render(self, text: str, original: _State, state: _State) -> str:
        """The original string with changed words replaced at their character offsets."""
        clf: HuggingFaceTextClassifier = self.estimator
        if not any(w.changed for w in state.words):
            return text
        if any(w.changed and w.char_span is None for w in state.words):
            return str(clf.tokenizer.decode(state.ids(), skip_special_tokens=True))
        out, cursor = [], 0
        for word in state.words:
            if word.changed and word.char_span is not None:
                a, b = word.char_span
                out.append(text[cursor:a])
                out.append(word.text)
                cursor = b
        out.append(text[cursor:])
        return "".join(out)

    def _results(self, originals: list[str], advs: list[str], labels: np.ndarray, preds: np.ndarray,
                 final: np.ndarray, outcome: list[tuple[_State, _State, str, int, float]],
                 adv_ids: list[list[int]], extra_query: bool = False) -> HotFlipResults:
        success, status = [], []
        for i, (_, _, st, _, _) in enumerate(outcome):
            if st == "skipped":
                status.append("skipped")
                success.append(False)
                continue
            ok = self._is_success(int(final[i]), int(labels[i]))
            status.append("success" if ok else "failed")
            success.append(ok)
        return HotFlipResults(
            original_texts=list(originals), adversarial_texts=list(advs), labels=[int(v) for v in labels],
            original_pred=[int(v) for v in preds], adversarial_pred=[int(v) for v in final], success=success,
            status=status, words_changed=[s.n_changed for _, s, _, _, _ in outcome],
            n_words=[sum(w.counts for w in o.words) for o, _, _, _, _ in outcome],
            queries=[q + (1 if extra_query and st != "skipped" else 0) for _, _, st, q, _ in outcome],
            seconds=[t for _, _, _, _, t in outcome], adversarial_ids=adv_ids,
        )
