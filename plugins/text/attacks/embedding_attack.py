"""Shared machinery of :mod:`embedding_fgm` and :mod:`embedding_pgd` (see those for the papers)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text.attacks.embedding_text import ProjectedTextSearch
from art_ext_plugins.text.attacks.results import TextAttackResult
from art_ext_plugins.text.model.embedding import (
    budget,
    embedding_pgd_delta,
    nearest_tokens,
)
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier, trim_batch
from tqdm.auto import tqdm

from art_ext import checks
from art_ext.attack_checks import atomic_set_params
from art_ext.evaluation.robust import robust_mask

logger = logging.getLogger(__name__)


@dataclass
class EmbeddingAttackResult:
    """What an embedding attack produced, per sentence.

    ``embeddings`` (N, L, D) are the perturbed input embeddings (feed them to
    ``classifier.predict(embeddings, attention_mask=attention_mask)``); ``projected_ids`` replace
    every real token by its nearest vocabulary token (special tokens and padding are kept), and
    ``projected_texts`` decode them: how far the continuous attack is from real text.
    ``labels`` are what the attack used: true labels (or the clean predictions) when untargeted,
    the targets when ``targeted``.
    """

    embeddings: np.ndarray
    attention_mask: np.ndarray
    original_ids: np.ndarray
    real_mask: np.ndarray
    projected_ids: np.ndarray
    projected_texts: list[str]
    tokens_changed: np.ndarray
    clean_pred: np.ndarray
    adv_pred: np.ndarray
    projected_pred: np.ndarray
    perturbation_norm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    targeted: bool = False

    def _rate(self, pred: np.ndarray) -> float:
        labels = self.labels if len(self.labels) == len(pred) else self.clean_pred
        if self.targeted:  # target reached, among sentences not already classified as the target
            attacked = self.clean_pred != labels
            return float((pred[attacked] == labels[attacked]).mean()) if attacked.any() else 0.0
        attacked = self.clean_pred == labels  # prediction moved off a correct label
        return float((pred[attacked] != labels[attacked]).mean()) if attacked.any() else 0.0

    @property
    def success_rate(self) -> float:
        """Untargeted: share of correctly classified sentences misclassified in embedding space;
        targeted: share of sentences not already of the target class that reach it."""
        return self._rate(self.adv_pred)

    @property
    def projected_success_rate(self) -> float:
        """:attr:`success_rate` of the nearest-token projection (real text)."""
        return self._rate(self.projected_pred)

    def robust(self) -> np.ndarray:
        """Correct clean and correct in embedding space (:func:`art_ext.evaluation.robust.robust_mask`)."""
        if self.targeted:
            raise ValueError("robust(): labels of a targeted result are targets, not true labels")
        return np.asarray(robust_mask(self.labels, self.clean_pred, self.adv_pred), dtype=bool)


class EmbeddingAttack(EvasionAttack):
    """Base of the embedding-space attacks: input handling, batching, projection to tokens."""

    attack_params = [*EvasionAttack.attack_params, "eps", "eps_step", "max_iter", "norm", "per",
                     "relative", "num_random_init", "targeted", "batch_size", "verbose", "seed",
                     "max_perturb_ratio", "constraints", "sentence_encoder", "word_encoder", "tagger"]
    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin, HuggingFaceTextClassifier)

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        eps: float = 0.5,
        eps_step: float | None = None,
        max_iter: int = 10,
        norm: str | float = "2",
        per: str = "token",
        relative: bool = True,
        num_random_init: int = 1,
        targeted: bool = False,
        batch_size: int = 32,
        verbose: bool = False,
        seed: int | None = 0,
        max_perturb_ratio: float = 0.2,
        constraints: Any = "none",
        sentence_encoder: Any = None,
        word_encoder: Any = None,
        tagger: Any = None,
    ) -> None:
        super().__init__(estimator=estimator)
        self.eps = eps
        self.max_perturb_ratio = max_perturb_ratio
        self.constraints = constraints
        self.sentence_encoder = sentence_encoder
        self.word_encoder = word_encoder
        self.tagger = tagger
        self.max_iter = max_iter
        self.eps_step = eps_step if eps_step is not None else (2.5 * eps / max_iter if isinstance(max_iter, int) and max_iter > 0 else eps)
        self.norm = norm
        self.per = per
        self.relative = relative
        self.num_random_init = num_random_init
        self._targeted = targeted
        self.batch_size = batch_size
        self.verbose = verbose
        self.seed = seed
        self.last_result: EmbeddingAttackResult | None = None
        self._check_params()

    def set_params(self, **kwargs: Any) -> None:
        """ART's ``set_params``, all or nothing (:func:`art_ext.attack_checks.atomic_set_params`)."""
        atomic_set_params(self, super().set_params, kwargs)

    def _check_params(self) -> None:
        checks.positive(self.eps, "eps")
        checks.positive(self.eps_step, "eps_step")
        checks.integer(self.max_iter, "max_iter", minimum=1)
        self.norm = checks.parse_norm(self.norm)
        checks.choice(self.per, "per", ("token", "sequence"))
        checks.integer(self.num_random_init, "num_random_init", minimum=0)
        checks.integer(self.batch_size, "batch_size", minimum=1)
        checks.boolean(self.relative, "relative")
        checks.boolean(self._targeted, "targeted")
        if self.seed is not None:
            checks.seed(self.seed)
        checks.number(self.max_perturb_ratio, "max_perturb_ratio", low=0.0, high=1.0, low_inclusive=False)

    @property
    def eps_abs(self) -> float:
        """The absolute budget (per token for L2, per coordinate for Linf); see ``_embedding``."""
        clf: HuggingFaceTextClassifier = self.estimator
        return budget(float(self.eps), clf.embedding_scale, self.norm, clf.hidden_size, self.relative)  # type: ignore[arg-type]

    @property
    def step_abs(self) -> float:
        clf: HuggingFaceTextClassifier = self.estimator
        return budget(float(self.eps_step), clf.embedding_scale, self.norm, clf.hidden_size, self.relative)  # type: ignore[arg-type]

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Perturbed input embeddings ``(N, L, D)`` for strings or token ids ``x``.

        :param y: true labels (untargeted; default: the model's predictions) or target labels
            (``targeted=True``, required), as indices or one-hot.
        :param attention_mask: optional (N, L) mask for token-id input (default ``x != pad``).
        The full result with nearest-token projections is kept in :attr:`last_result`.
        """
        return self.generate_result(x, y, attention_mask=kwargs.get("attention_mask")).embeddings

    def generate_result(self, x: Any, y: Any = None, attention_mask: np.ndarray | None = None) -> EmbeddingAttackResult:
        """Run the attack and return embeddings plus the per-sentence nearest-token projection."""
        clf: HuggingFaceTextClassifier = self.estimator
        ids, mask = clf.to_ids(x, attention_mask)
        n = len(ids)
        clean_logits = clf.predict(ids, attention_mask=mask, batch_size=self.batch_size)
        clean_pred = clean_logits.argmax(1) if n else np.zeros(0, np.int64)
        if y is None:
            if self.targeted:
                raise ValueError("y: target labels are required when targeted=True")
            labels = clean_pred
        else:
            labels = clf.check_labels(y, n)
        gen = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        dev = clf.device
        hidden = clf.hidden_size
        out_emb = np.zeros((n, ids.shape[1], hidden), dtype=np.float32)
        banned = torch.as_tensor(clf.special_ids, device=dev)
        matrix = clf.embedding_matrix
        projected = ids.copy()
        norms = np.zeros(n, dtype=np.float32)
        adv_pred = np.zeros(n, dtype=np.int64)
        with clf.eval_mode():
            for start in tqdm(range(0, n, self.batch_size), disable=not self.verbose, desc=type(self).__name__):
                sl = slice(start, start + self.batch_size)
                b_ids, b_mask = trim_batch(ids[sl], mask[sl])
                length = b_ids.shape[1]
                ids_t = torch.as_tensor(b_ids, device=dev)
                mask_t = torch.as_tensor(b_mask, device=dev)
                y_t = torch.as_tensor(labels[sl], device=dev)
                real = clf.real_token_mask(ids_t, mask_t)
                with torch.no_grad():
                    emb = clf.embed(ids_t)
                best_delta = torch.zeros_like(emb)
                best_loss = torch.full((len(b_ids),), -float("inf"), device=dev)
                for restart in range(max(1, self.num_random_init)):
                    delta = embedding_pgd_delta(
                        clf, emb, mask_t, real, y_t, self.eps_abs, self.step_abs, self.max_iter, self.norm,  # type: ignore[arg-type]
                        self.per, random_init=self.num_random_init > 0, targeted=self.targeted, generator=gen,  # type: ignore[arg-type]
                    )
                    with torch.no_grad():
                        logits = clf.logits_from_embeddings(emb + delta, mask_t).float()
                        loss = torch.nn.functional.cross_entropy(logits, y_t, reduction="none")
                        if self.targeted:
                            loss = -loss
                        better = loss > best_loss
                        best_loss = torch.where(better, loss, best_loss)
                        best_delta[better] = delta[better]
                        logger.debug("restart %d: %d improved", restart, int(better.sum()))
                with torch.no_grad():
                    adv = emb + best_delta
                    adv_pred[sl] = clf.logits_from_embeddings(adv, mask_t).argmax(1).cpu().numpy()
                    near = ids_t.clone()
                    if real.any():
                        near[real] = nearest_tokens(adv[real], matrix, banned)
                out_emb[sl, :length] = adv.float().cpu().numpy()
                # padding columns beyond the trimmed length keep the pad embedding
                if length < ids.shape[1]:
                    with torch.no_grad():
                        out_emb[sl, length:] = clf.embed(torch.as_tensor(ids[sl, length:], device=dev)).float().cpu().numpy()
                projected[sl, :length] = near.cpu().numpy()
                norms[sl] = best_delta.flatten(1).norm(dim=1).cpu().numpy()
        real_np = np.zeros_like(ids, dtype=bool)
        if n:
            ids_t_all = torch.as_tensor(ids)
            real_np = clf.real_token_mask(ids_t_all.to(dev), torch.as_tensor(mask, device=dev)).cpu().numpy()
        projected_pred = clf.predict(projected, attention_mask=mask, batch_size=self.batch_size).argmax(1) if n else adv_pred
        texts = [clf.tokenizer.decode([int(t) for t, m in zip(row, mrow) if m], skip_special_tokens=True)
                 for row, mrow in zip(projected, mask)]
        result = EmbeddingAttackResult(
            embeddings=out_emb, attention_mask=mask, original_ids=ids, real_mask=real_np, projected_ids=projected,
            projected_texts=texts, tokens_changed=((projected != ids) & real_np).sum(axis=1),
            clean_pred=clean_pred, adv_pred=adv_pred, projected_pred=projected_pred, perturbation_norm=norms,
            labels=np.asarray(labels, dtype=np.int64), targeted=bool(self.targeted),
        )
        self.last_result = result
        return result

    def attack_text(self, texts: Any, labels: Any = None) -> TextAttackResult:
        """Real text from the embedding attack: each sentence's perturbed embeddings are projected
        word by word onto the nearest whole-word vocabulary token; the projected changes (largest
        perturbation first) are kept while every constraint accepts them and the word budget
        ``max_perturb_ratio`` allows, and success is judged on the resulting string. Returns the
        shared :class:`~art_ext_plugins.text.attacks.results.TextAttackResult`."""
        search = ProjectedTextSearch(self)
        result = search.attack_text(texts, labels)
        result.attack = type(self).__name__
        return result
