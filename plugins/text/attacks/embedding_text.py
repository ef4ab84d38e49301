"""Real text from an embedding attack: nearest-token projection under the shared constraints.

:meth:`EmbeddingAttack.attack_text <art_ext_plugins.text.attacks.embedding_attack.EmbeddingAttack.attack_text>`
runs the attack's PGD (or FGM) on one sentence's input embeddings, then for every word that may
change finds the whole-word vocabulary token nearest (L2) to the perturbed embedding at the
word's first piece, among the tokens the vectorised constraints allow (word-embedding cosine).
Words whose nearest token is another word are proposed as swaps, largest perturbation first,
and kept one by one while every constraint accepts them and the budget allows (iAdv-style
projection; Sato et al., IJCAI 2018). Queries: one per PGD step, the clean prediction and the
final check.
"""

from __future__ import annotations

from typing import Any

import torch
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text.attacks.word_attack import SentenceContext, WordAttackBase
from art_ext_plugins.text.attacks.words import Sentence
from art_ext_plugins.text.model.embedding import embedding_pgd_delta
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

__all__ = ["ProjectedTextSearch"]


class ProjectedTextSearch(WordAttackBase):
    """The text search behind ``EmbeddingAttack.attack_text`` (see the module docstring)."""

    _estimator_requirements = (BaseEstimator, LossGradientsMixin, ClassifierMixin, HuggingFaceTextClassifier)

    def __init__(self, attack: Any) -> None:
        """:param attack: the ``EmbeddingAttack`` whose parameters the search uses (typed ``Any``: that
            module imports this one, and the search only reads its attributes)."""
        self.attack = attack
        super().__init__(attack.estimator, max_perturb_ratio=attack.max_perturb_ratio, constraints=attack.constraints,
                         sentence_encoder=attack.sentence_encoder, word_encoder=attack.word_encoder,
                         tagger=attack.tagger, targeted=bool(attack.targeted), batch_size=attack.batch_size,
                         verbose=bool(attack.verbose))

    def _begin(self) -> None:
        clf: HuggingFaceTextClassifier = self.estimator
        cand = self._vocabulary.spaced.to(clf.device)
        self._cand = cand
        self._rows = clf.embedding_matrix.float()[cand]
        self._surfaces = [self._vocabulary.surface(int(i)) for i in cand.tolist()]
        seed = self.attack.seed
        self._generator = torch.Generator().manual_seed(seed) if seed is not None else None

    def _delta(self, ctx: SentenceContext) -> tuple[torch.Tensor, torch.Tensor]:
        """Perturbed embeddings (1, L, D) of the sentence and the per-token perturbation norm (L,)."""
        clf: HuggingFaceTextClassifier = self.estimator
        attack = self.attack
        ids = torch.as_tensor([ctx.original.ids()], device=clf.device)
        mask = torch.ones_like(ids)
        real = clf.real_token_mask(ids, mask)
        y = torch.as_tensor([ctx.label], device=clf.device)
        with torch.no_grad():
            emb = clf.embed(ids).float()
        delta = embedding_pgd_delta(clf, emb, mask, real, y, attack.eps_abs, attack.step_abs, attack.max_iter,
                                    attack.norm, attack.per, random_init=attack.num_random_init > 0,  # type: ignore[arg-type]
                                    targeted=bool(attack.targeted), generator=self._generator)
        ctx.queries += attack.max_iter
        return (emb + delta)[0], delta[0].norm(dim=-1)

    def _attack_one(self, ctx: SentenceContext) -> Sentence:
        adv, size = self._delta(ctx)
        state = ctx.original
        items, pos = [], len(state.prefix)
        for index, word in enumerate(state.words):
            if word.modifiable:
                items.append((index, pos))
            pos += len(word.tokens)
        if not items:
            return state
        vectors = adv[torch.as_tensor([p for _, p in items], device=adv.device)]
        dist = torch.cdist(vectors, self._rows)  # (W, V')
        old = [state.words[i].original for i, _ in items]
        for constraint in self._constraints:
            if "word" in constraint.applies_to:
                allowed = constraint.candidate_mask(old, "projection", self._surfaces)
                if allowed is not None:
                    dist[~allowed.to(dist.device)] = torch.inf
        nearest = dist.argmin(dim=1).tolist()
        proposals = []
        for (index, p), j in zip(items, nearest):
            token = int(self._cand[j])
            word = state.words[index]
            if self._surfaces[j] != word.original and token not in word.tokens[:1]:
                proposals.append((float(size[p]), index, token, self._surfaces[j]))
        proposals.sort(key=lambda t: -t[0])
        for _, index, token, surface in proposals:
            if state.n_changed >= ctx.budget:
                break
            accepted = self._accept(ctx, state, [(index, [token], surface)])
            if accepted:
                state = accepted[0]
        return state

    def generate(self, x: Any, y: Any = None, **kwargs: Any) -> Any:  # pragma: no cover - internal helper
        raise NotImplementedError("use EmbeddingAttack.attack_text")
