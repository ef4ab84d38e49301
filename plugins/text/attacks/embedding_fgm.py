"""Fast gradient method in the input-embedding space of a text classifier.

Paper: Miyato, Dai and Goodfellow, "Adversarial Training Methods for Semi-Supervised Text
Classification", ICLR 2017 (one normalised gradient step on the embeddings; Goodfellow et al. 2015
for the image FGSM).

Distance: L2 (per token, as in Miyato et al., or per sequence) or Linf on the input embeddings,
``eps`` relative to the embedding scale ``s`` (mean L2 norm of a vocabulary embedding) when
``relative=True``: L2 per token ``||delta_i|| <= eps*s``; per sequence
``||delta||_F <= eps*s*sqrt(n_real)``; Linf ``|delta_ij| <= eps*s/sqrt(D)``. Only real tokens are
perturbed, never special tokens or padding.

Arguments (defaults): ``eps=0.5``, ``norm="2"``, ``per="token"``, ``relative=True``,
``random_init=False`` (True: start from a uniform point in the ball, then the full step, projected),
``targeted=False``, ``batch_size=32``, ``verbose=False``, ``seed=0``; for :meth:`attack_text`
(real text by nearest-token projection): ``max_perturb_ratio=0.2``, ``constraints="none"``,
``sentence_encoder=None``, ``word_encoder=None``, ``tagger=None``.

Example::

    attack = EmbeddingFGM(classifier, eps=0.5)
    emb = attack.generate(["a gorgeous , witty film"])
    attack.last_result.adv_pred, attack.last_result.projected_texts  # what it produced
"""

from __future__ import annotations

from typing import Any

from art_ext_plugins.text.attacks.embedding_attack import EmbeddingAttack, EmbeddingAttackResult
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier

from art_ext import checks

__all__ = ["EmbeddingAttackResult", "EmbeddingFGM"]


class EmbeddingFGM(EmbeddingAttack):
    """One step of size ``eps`` along the normalised embedding gradient."""

    attack_params = [p for p in EmbeddingAttack.attack_params if p not in ("eps_step", "max_iter", "num_random_init")] + ["random_init"]

    def __init__(
        self,
        estimator: HuggingFaceTextClassifier,
        eps: float = 0.5,
        norm: str | float = "2",
        per: str = "token",
        relative: bool = True,
        random_init: bool = False,
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
        self.random_init = random_init
        super().__init__(
            estimator, eps=eps, eps_step=eps, max_iter=1, norm=norm, per=per, relative=relative,
            num_random_init=1 if random_init else 0, targeted=targeted, batch_size=batch_size,
            verbose=verbose, seed=seed, max_perturb_ratio=max_perturb_ratio, constraints=constraints,
            sentence_encoder=sentence_encoder, word_encoder=word_encoder, tagger=tagger,
        )

    def _check_params(self) -> None:
        super()._check_params()
        checks.boolean(self.random_init, "random_init")
