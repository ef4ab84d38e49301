"""Built-in plugin ``text`` (import name ``art_ext_plugins.text``): hookimpls, and lazy names.

Registers, with ``modality="text"`` and lazily imported targets (importing this module does not
import ``transformers`` or torch):

* attacks ``text-hotflip`` (gradient word substitution), ``text-wordswap`` (black-box word
  substitution with embedding neighbours), ``text-charswap`` (black-box character edits), all
  producing real text under the shared constraints (:mod:`.attacks.constraints`), and
  ``text-embedding-fgm`` / ``text-embedding-pgd`` (embedding space);
* trainers ``freelb`` (Zhu et al. 2020), ``text-a2t`` (Yoo and Qi 2021: word substitutions made
  each step), ``text-embedding-pgd``, ``text-fgm`` (Miyato et al. 2017) and ``text-standard``
  (clean fine-tuning baseline), all on the trainer core.

All of them take a :class:`HuggingFaceTextClassifier`. The plugin's layers import downward only:
``model`` (the estimator, tokenizer checks, embeddings, sentence encoders) <- ``attacks`` (the
shared constraints, word and embedding attacks) <- ``training`` (the trainers) <- ``benchmark``
(the text benchmark and its report) and ``cli`` (the runners of ``art-ext attack``/``train``). The main classes can be imported from
here (``from art_ext_plugins.text import HuggingFaceTextClassifier``); they are loaded on first
access (module ``__getattr__``), so importing the plugin stays cheap. (``dir()`` of the module
does not list them: pluggy inspects every name ``dir()`` shows when it registers the plugin.)
"""

from __future__ import annotations

import importlib
from typing import Any

import art_ext
from art_ext.registry import Register

_PKG = "art_ext_plugins.text"

#: public names, loaded on first access from their module
_LAZY = {
    "HuggingFaceTextClassifier": "model.estimator",
    "TextInputError": "model.estimator",
    "HotFlip": "attacks.hotflip",
    "WordSwap": "attacks.wordswap",
    "CharSwap": "attacks.charswap",
    "EmbeddingFGM": "attacks.embedding_fgm",
    "EmbeddingPGD": "attacks.embedding_pgd",
    "EmbeddingAttackResult": "attacks.embedding_attack",
    "TextAttackResult": "attacks.results",
    "HotFlipResults": "attacks.results",
    "SwapRecord": "attacks.results",
    "FreeLBTrainer": "training.freelb",
    "A2TTrainer": "training.a2t",
    "TextTrainer": "training.trainers",
    "EmbeddingFGMTrainer": "training.trainers",
    "EmbeddingPGDTrainer": "training.trainers",
    "Constraint": "attacks.constraints",
    "MaxWordsChanged": "attacks.constraints",
    "Stopwords": "attacks.constraints",
    "WordEmbeddingCosine": "attacks.constraints",
    "SentenceSimilarity": "attacks.constraints",
    "PartOfSpeech": "attacks.constraints",
    "PRESETS": "attacks.constraints",
    "preset": "attacks.constraints",
    "TokenEmbeddingEncoder": "model.encoders",
    "SentenceEncoder": "model.encoders",
    "embedding_foolbox_model": "model.foolbox_models",
    "FoolboxEmbeddingPGD": "model.foolbox_models",
    "FoolboxEmbeddingFGM": "model.foolbox_models",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{_PKG}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@art_ext.hookimpl
def register_attacks(register: Register) -> None:
    register("text-hotflip", f"{_PKG}.attacks.hotflip:HotFlip", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="HotFlip gradient word substitution, <=20% words, constraint presets, real text (Ebrahimi et al. 2018)")
    register("text-wordswap", f"{_PKG}.attacks.wordswap:WordSwap", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="black-box greedy word substitution from embedding neighbours, counted queries (TextFooler-style)")
    register("text-charswap", f"{_PKG}.attacks.charswap:CharSwap", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="black-box character edits: swap, delete, insert, neighbouring keys (DeepWordBug-style)")
    register("text-embedding-fgm", f"{_PKG}.attacks.embedding_fgm:EmbeddingFGM", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="FGM on input embeddings, eps relative to the embedding scale (Miyato et al. 2017)")
    register("text-embedding-pgd", f"{_PKG}.attacks.embedding_pgd:EmbeddingPGD", modality="text", cli=f"{_PKG}.cli:run_attack",
             description="PGD on input embeddings with nearest-token projection (Madry et al. 2018)")


@art_ext.hookimpl
def register_trainers(register: Register) -> None:
    register("freelb", f"{_PKG}.training.freelb:FreeLBTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="FreeLB adversarial training on embeddings, on the trainer core (Zhu et al. 2020)")
    register("text-embedding-pgd", f"{_PKG}.training.trainers:EmbeddingPGDTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="PGD-K adversarial training on input embeddings, on the trainer core")
    register("text-fgm", f"{_PKG}.training.trainers:EmbeddingFGMTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="FGM adversarial training on embeddings (Miyato et al. 2017), on the trainer core")
    register("text-standard", f"{_PKG}.training.trainers:TextTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="clean fine-tuning of an HF text classifier on the trainer core (baseline)")
    register("text-a2t", f"{_PKG}.training.a2t:A2TTrainer", modality="text", cli=f"{_PKG}.cli:run_train",
             description="A2T-style adversarial training with word substitutions made each step (Yoo & Qi 2021)")
