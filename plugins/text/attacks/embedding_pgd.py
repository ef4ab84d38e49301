"""Projected gradient descent in the input-embedding space of a text classifier.

Paper: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018,
applied to word embeddings as in Miyato et al., "Adversarial Training Methods for Semi-Supervised
Text Classification", ICLR 2017, and Zhu et al., "FreeLB", ICLR 2020.

Distance: L2 (per token or per sequence) or Linf on the input embeddings, with ``eps`` relative to
the embedding scale ``s`` (mean L2 norm of a vocabulary embedding) when ``relative=True``:
L2 per token ``||delta_i|| <= eps*s``; L2 per sequence ``||delta||_F <= eps*s*sqrt(n_real)``;
Linf ``|delta_ij| <= eps*s/sqrt(D)``. Only real tokens move; special tokens and padding never do.

Arguments (defaults): ``eps=0.5``, ``eps_step=2.5*eps/max_iter``, ``max_iter=10``, ``norm="2"``
(or ``"inf"``), ``per="token"`` (or ``"sequence"``), ``relative=True``, ``num_random_init=1``
(0 = start at the clean embeddings; k > 1 = k restarts, the highest loss kept),
``targeted=False``, ``batch_size=32``, ``verbose=False``, ``seed=0``; for :meth:`attack_text`
(real text: each word's perturbed embedding projected onto its nearest whole-word token, the
changes kept under the shared constraints): ``max_perturb_ratio=0.2``, ``constraints="none"``
(a preset or a list, :mod:`art_ext_plugins.text.attacks.constraints`), ``sentence_encoder=None``,
``word_encoder=None``, ``tagger=None``.

Success (``last_result.success_rate``): untargeted, the share of correctly classified sentences
that the perturbed embeddings misclassify; targeted, the share (of those not already of the
target class) that reach the target given in ``y``.

``generate(x, y=None)`` takes strings or token ids ``(N, L)`` and returns the perturbed
embeddings ``(N, L, D)``; :meth:`generate_result` (also stored as ``last_result``) adds the
nearest-token projection of each sentence, its text and prediction.

Example::

    attack = EmbeddingPGD(classifier, eps=0.5, max_iter=10)
    emb = attack.generate(ids, y)
    robust_acc = attack.last_result.robust().mean()  # the shared definition: correct before and after
    attack.last_result.projected_texts[0]  # what it produced
    text = attack.attack_text(["a gorgeous , witty film"], [1])  # TextAttackResult, real text
"""

from __future__ import annotations

from art_ext_plugins.text.attacks.embedding_attack import EmbeddingAttack, EmbeddingAttackResult

__all__ = ["EmbeddingAttackResult", "EmbeddingPGD"]


class EmbeddingPGD(EmbeddingAttack):
    """PGD on input embeddings (see the module docstring for eps units and defaults)."""
