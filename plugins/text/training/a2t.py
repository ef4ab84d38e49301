"""A2T-style adversarial training on the trainer core: real word substitutions, regenerated from
the current model while it trains.

Paper: J. Yoo and Y. Qi, "Towards Improving Adversarial Training of NLP Models", Findings of
EMNLP 2021 (TextAttack's A2T recipe). A2T trains on clean examples plus adversarial examples of a
cheap attack: words ranked by the loss gradient, substitutes from embedding neighbours, kept only
under a sentence-encoder and a part-of-speech constraint; the adversarial examples are made again
from the model being trained.

Here, after ``clean_epochs`` clean epochs, each step attacks a seeded share ``adv_ratio`` of its
batch with ``attack`` (a registered text attack, default ``text-hotflip``: one gradient scores
every word swap, the best swaps the constraints accept are checked with real forward passes;
candidates of a sentence go through the model in batches) under ``constraints`` (default the
``a2t`` preset: stop words kept, at most max(10% of the words, 2) changed, word cosine >= 0.6 and
sentence similarity >= 0.9 under the MiniLM sentence encoder). The attack runs on the current
weights in eval mode and float32; the step's loss is ``CE(clean batch) + adv_weight *
CE(adversarial rows)``, in the precision policy's autocast. Attacked rows are drawn from the data
seed and the step number, so a resumed run attacks the same rows (bit-identical resume).

Arguments (defaults; the paper's in brackets):

* ``attack="text-hotflip"`` [A2T's gradient-ranked word substitution]; ``text-wordswap`` (the
  black-box greedy swap) also works;
* ``constraints="a2t"`` [A2T's: a sentence encoder (USE or a DistilBERT one) and counter-fitted
  word embeddings, which cannot be loaded offline; the preset uses the packaged MiniLM for both,
  its thresholds chosen on MR validation; part of speech only with a ``tagger``];
* ``adv_ratio=0.2`` [20% of the training set attacked per adversarial epoch: ``num_adv_examples=0.2``];
* ``adv_weight=1.0`` [TextAttack's ``alpha``, 1.0];
* ``clean_epochs=0`` [1 of 4 epochs; ``clean_epochs=1`` with 4 epochs reproduces it];
* ``max_perturb_ratio=0.2``, ``attack_params={}``: the attack's own word budget and any other
  parameter of it; ``sentence_encoder``, ``word_encoder``, ``tagger``: the constraints' encoders
  (default: the packaged MiniLM, the model's input embeddings, no tagger);
* every :class:`~art_ext_plugins.text.training.trainers.TextTrainer` option (``lr`` [5e-5 in the
  paper's script], ``nb_epochs``, ``batch_size``, ``precision``, ``checkpoint_dir``, ...).

What differs from the paper: A2T makes its adversarial examples once per epoch for a fifth of the
training set and trains on the union; here they are made each step for a fifth of each batch, from
the weights of that step (the same share of the data per epoch, never older than one step).

Example::

    trainer = art_ext.get_trainer("text-a2t", text_classifier, adv_ratio=0.2, nb_epochs=2, lr=5e-5)
    trainer.fit(train_texts, train_labels)
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch
from art_ext_plugins.text.model.estimator import HuggingFaceTextClassifier
from art_ext_plugins.text.training.trainers import TextTrainer
from torch import Tensor, nn

import art_ext
from art_ext import checks

logger = logging.getLogger(__name__)

__all__ = ["A2TTrainer"]

#: the text attacks that can make A2T's examples (word substitutions that return token ids)
A2T_ATTACKS = ("text-hotflip", "text-wordswap")


class A2TTrainer(TextTrainer):
    """Adversarial training with word substitutions made each step (see the module docstring)."""

    def __init__(self, estimator: HuggingFaceTextClassifier, *, attack: str = "text-hotflip",
                 constraints: Any = "a2t", adv_ratio: float = 0.2, adv_weight: float = 1.0, clean_epochs: int = 0,
                 max_perturb_ratio: float = 0.2, attack_params: dict[str, Any] | None = None,
                 sentence_encoder: Any = None, word_encoder: Any = None, tagger: Any = None, **kwargs: Any) -> None:
        self.attack = checks.choice(attack, "attack", A2T_ATTACKS)
        self.constraints = constraints if isinstance(constraints, str) else "custom"
        self.adv_ratio = checks.number(adv_ratio, "adv_ratio", low=0.0, high=1.0, low_inclusive=False)
        self.adv_weight = checks.non_negative(adv_weight, "adv_weight")
        self.clean_epochs = checks.integer(clean_epochs, "clean_epochs", minimum=0)
        self.max_perturb_ratio = checks.number(max_perturb_ratio, "max_perturb_ratio", low=0.0, high=1.0,
                                               low_inclusive=False)
        if not isinstance(attack_params, (dict, type(None))):
            raise TypeError(f"attack_params must be a dict of the attack's parameters, got {type(attack_params).__name__}")
        extra = dict(attack_params or {})
        super().__init__(estimator, **kwargs)
        self._attack = art_ext.get_attack(self.attack, estimator, constraints=constraints,
                                          max_perturb_ratio=self.max_perturb_ratio, sentence_encoder=sentence_encoder,
                                          word_encoder=word_encoder, tagger=tagger, **extra)
        # checkpointed with the run, so an epoch resumed mid-way reports the same counts
        self.counts = self.register_state("a2t_counts", AttackCounts())

    def attacked_rows(self, batch_size: int) -> np.ndarray:
        """The rows of this step's batch to attack: ``adv_ratio`` of them (at least one), drawn from
        the data seed and the step number, so a resumed run draws the same rows."""
        count = max(1, round(self.adv_ratio * batch_size))
        rng = np.random.default_rng([self.data_seed, self.global_step])
        return np.sort(rng.choice(batch_size, size=min(count, batch_size), replace=False))

    def adversarial_ids(self, ids: Tensor, mask: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Token ids and attention mask of the attacked rows' adversarial sentences (eval mode, fp32)."""
        clf = self.text_estimator
        start = time.perf_counter()
        host_ids = ids.cpu().numpy()  # the word attacks work on host arrays
        with self.eval_mode(), torch.autocast(device_type=self.device.type, enabled=False):
            adv = self._attack.generate(host_ids, y.cpu().numpy(), attention_mask=mask.cpu().numpy())
        adv_ids, adv_mask = clf.to_ids(np.asarray(adv, dtype=np.int64))
        self.counts.seconds += time.perf_counter() - start
        self.counts.attacked += len(adv_ids)
        self.counts.changed += int((adv_ids != host_ids[:, : adv_ids.shape[1]]).any(axis=1).sum())
        return torch.as_tensor(adv_ids, device=ids.device), torch.as_tensor(adv_mask, device=ids.device)

    def train_step(self, batch: Any) -> dict[str, Tensor]:
        ids, mask, y = batch
        if self.epoch < self.clean_epochs:
            return super().train_step(batch)
        rows = torch.as_tensor(self.attacked_rows(len(y)), device=ids.device)
        adv_ids, adv_mask = self.adversarial_ids(ids[rows], mask[rows], y[rows])
        with self.autocast():
            logits = self.logits(self.embed(ids), mask)
            clean_loss = nn.functional.cross_entropy(logits.float(), y)
            adv_logits = self.logits(self.embed(adv_ids), adv_mask)
            adv_loss = nn.functional.cross_entropy(adv_logits.float(), y[rows])
            loss = clean_loss + self.adv_weight * adv_loss
        self.optimizer_step(loss)
        return {"loss": loss.detach(), "adv_loss": adv_loss.detach(),
                "acc": (logits.detach().argmax(1) == y).float().mean(),
                "adv_acc": (adv_logits.detach().argmax(1) == y[rows]).float().mean()}

    def epoch_record_extras(self) -> dict[str, Any]:
        """Time spent attacking and how many attacked sentences the attack changed, this epoch."""
        extras = {"attack_seconds": round(self.counts.seconds, 3), "attacked": self.counts.attacked,
                  "changed": self.counts.changed}
        self.counts.load_state_dict({})
        return extras


class AttackCounts:
    """This epoch's attack time, attacked sentences and sentences the attack changed."""

    def __init__(self) -> None:
        self.load_state_dict({})

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds, "attacked": self.attacked, "changed": self.changed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seconds = float(state.get("seconds", 0.0))
        self.attacked = int(state.get("attacked", 0))
        self.changed = int(state.get("changed", 0))
