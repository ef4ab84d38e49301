"""Built-in plugin ``text`` (import name ``art_ext_plugins.text``): hookimpls only.

Registers, with ``modality="text"`` and lazily imported targets (importing this module does not
import ``transformers`` or torch):

* attacks ``text-hotflip`` (word substitution producing real text, CLI runner),
  ``text-embedding-fgm`` and ``text-embedding-pgd`` (embedding space);
* trainers ``freelb`` (Zhu et al. 2020, CLI runner), ``text-embedding-pgd``, ``text-fgm``
  (Miyato et al. 2017) and ``text-standard`` (clean fine-tuning baseline), all on the trainer core.

All of them take a :class:`art_ext_plugins.text.estimator.HuggingFaceTextClassifier`.
"""

from __future__ import annotations

import art_ext
from art_ext.registry import Register

_PKG = "art_ext_plugins.text"


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register("text-hotflip", f"{_PKG}.hotflip:HotFlip", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="HotFlip word substitution on HF text classifiers, <=20% words, real text (Ebrahimi et al. 2018)")
    register("text-embedding-fgm", f"{_PKG}.embedding_fgm:EmbeddingFGM", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="FGM on input embeddings, eps relative to the embedding scale (Miyato et al. 2017)")
    register("text-embedding-pgd", f"{_PKG}.embedding_pgd:EmbeddingPGD", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="PGD on input embeddings with nearest-token projection (Madry et al. 2018)")


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register("freelb", f"{_PKG}.freelb:FreeLBTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="FreeLB adversarial training on embeddings, on the trainer core (Zhu et al. 2020)")
    register("text-embedding-pgd", f"{_PKG}.trainers:EmbeddingPGDTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="PGD-K adversarial training on input embeddings, on the trainer core")
    register("text-fgm", f"{_PKG}.trainers:EmbeddingFGMTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="FGM adversarial training on embeddings (Miyato et al. 2017), on the trainer core")
    register("text-standard", f"{_PKG}.trainers:TextTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="clean fine-tuning of an HF text classifier on the trainer core (baseline)")
