"""AdvGAN: adversarial examples from a trained generator, as an ART evasion attack.

Longer than ~400 lines on purpose: the attack's three modes (white-box, distilled black-box,
universal) share one fitting loop; its losses are in ``losses.py``, its file format in ``files.py``,
its networks in ``networks.py``.

Paper: Chaowei Xiao, Bo Li, Jun-Yan Zhu, Warren He, Mingyan Liu, Dawn Song, "Generating
Adversarial Examples with Adversarial Networks", IJCAI 2018 (arXiv:1801.02610).

Distance: ``norm=inf`` (default) or ``norm=2``; every output satisfies
``||x_adv - x|| <= eps`` and lies within the classifier's ``clip_values``.

A generator ``G`` learns a perturbation for each input; a discriminator ``D`` keeps
``x + G(x)`` close to the data distribution. ``G`` minimises (paper, eq. 4, with the weights
placed as in the public PyTorch reference implementation)::

    L_G = L_GAN + alpha * L_adv + beta * L_hinge
    L_GAN   = E (D(x + G(x)) - 1)^2                          (least-squares GAN)
    L_adv   = E max(Z(x')_y - max_{i != y} Z(x')_i, -kappa)     (untargeted, C&W margin on logits)
            = E max(max_{i != t} Z(x')_i - Z(x')_t, -kappa)     (targeted at class t)
    L_hinge = E max(0, ||G(x)||_2 - c)

and ``D`` minimises ``E (D(x) - 1)^2 + E D(x')^2``. The generator's ``tanh`` output is scaled by
``eps`` (the reference clamps to ``+/-0.3`` on MNIST: the same bound; scaling keeps the gradient
alive at the bound), projected onto the L2 ball for ``norm=2``, added to ``x`` and clipped to
``clip_values``. Once trained, :meth:`AdvGAN.generate` is one batched forward pass.

Modes:

* ``mode="semi-whitebox"`` (default): ``G`` is trained against the gradients of the frozen
  target model (needs an ART ``PyTorchClassifier``); at attack time the target is not needed.
* ``mode="black-box"``: the paper's dynamic distillation. A surrogate is first distilled from the
  target's ``predict`` labels on the training inputs, then each epoch alternates one epoch of
  ``G``/``D`` against the surrogate with one epoch of surrogate training on the clean inputs and
  the current adversarial examples, labelled by the target's ``predict``. The target is only
  ever called through ``predict``; ``n_queries`` counts the examples sent to it.

Targeted mode (``targeted=True``): the default generator is conditional on a one-hot target
class, so one generator serves all classes. ``fit`` samples a target different from each
example's label on every batch; ``generate(x, y)`` takes the targets as indices or one-hot.

Defaults reproduce the paper's MNIST setting as implemented by the public reference:
``eps=0.3`` (L_inf), ``alpha=10``, ``beta=1``, ``c=0.1``, ``kappa=0``, Adam with learning rate
``1e-3``, batch size 128. The reference trains 60 epochs on 60,000 MNIST images; the default
here is ``nb_epochs=30``. Fewer epochs already give a strong attack (``benchmarks/advgan.py``
records success rate against epochs on a CPU budget); on a CPU pass ``nb_epochs`` to match your
budget.

Example::

    import art_ext
    attack = art_ext.get_attack("advgan", classifier, eps=0.3)
    history = attack.fit(x_train)               # trains G and D, returns per-epoch losses
    x_adv = attack.generate(x_test)             # one forward pass
    attack.save("advgan.safetensors")
    attack = AdvGAN.load("advgan.safetensors", classifier)
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from art.attacks.attack import EvasionAttack
from art.estimators.classification.classifier import ClassifierMixin
from art.estimators.estimator import BaseEstimator
from art_ext_plugins.gan.files import generator_metadata, read_generator_file
from art_ext_plugins.gan.losses import discriminator_loss, generator_loss
from art_ext_plugins.gan.networks import (
    MODES,
    AdvGANDiscriminator,
    AdvGANGenerator,
    default_surrogate,
)
from torch import nn
from tqdm.auto import tqdm

from art_ext import checks
from art_ext.attack_checks import atomic_set_params
from art_ext.core.device import eval_mode, resolve_policy, restore_modes, snapshot_modes
from art_ext.core.perturb import constrain
from art_ext.model_io import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["MODES", "AdvGAN", "NotFittedError", "success_rate"]



class NotFittedError(RuntimeError):
    """``generate`` (or ``save``) was called before the generator was trained or loaded."""


class AdvGAN(EvasionAttack):
    """AdvGAN (Xiao et al., IJCAI 2018): a generator trained to output adversarial perturbations.

    :param classifier: the target, an ART classifier. ``mode="semi-whitebox"`` needs an ART
        ``PyTorchClassifier`` (its model's gradients); ``mode="black-box"`` needs only ``predict``.
    :param eps: bound on the perturbation under ``norm`` (default 0.3, the paper's MNIST L_inf).
    :param norm: ``np.inf`` / ``"inf"`` (default) or ``2``.
    :param targeted: train a conditional generator that steers inputs to target classes.
    :param mode: ``"semi-whitebox"`` (default) or ``"black-box"`` (dynamic distillation).
    :param alpha: weight of the adversarial (C&W margin) loss (default 10).
    :param beta: weight of the hinge on the perturbation's L2 norm (default 1).
    :param c: bound of that hinge (default 0.1).
    :param kappa: confidence of the margin loss (default 0, as in the paper).
    :param nb_epochs: training epochs of ``fit`` (default 30).
    :param batch_size: batch size of ``fit`` and ``generate`` (default 128).
    :param learning_rate: Adam learning rate of G, D and the surrogate (default 1e-3).
    :param generator: own generator module (see :mod:`art_ext_plugins.gan.networks`); its output
        must have the input's shape. Default: :class:`AdvGANGenerator` for the input shape.
    :param discriminator: own discriminator module (one score per example).
    :param surrogate: black-box mode's surrogate model (default: art-ext ``SmallCNN``).
    :param distill_epochs: epochs of the static distillation before G training (black-box, default 5).
    :param device_type: ``"cpu"``, ``"cuda"`` or ``None`` (the classifier's device, else CUDA if present).
    :param seed: seed of the default networks' initialisation and of the batch order.
    :param precision: ``"auto"`` (default: bf16 autocast for the networks' forward passes where the
        hardware runs it natively), ``"fp32"`` or ``"bf16"``; perturbations, projection and clipping
        are always float32 (or the input's float64).
    :param verbose: show a tqdm progress bar during ``fit``.

    A trained generator's ``eps`` is a **cap**: setting a larger ``eps`` afterwards (``set_params``,
    Foolbox's epsilons) never rescales its output; a smaller one projects it onto the smaller ball.
    """

    attack_params = [
        *EvasionAttack.attack_params,
        "eps",
        "norm",
        "targeted",
        "mode",
        "alpha",
        "beta",
        "c",
        "kappa",
        "nb_epochs",
        "batch_size",
        "learning_rate",
        "distill_epochs",
        "precision",
        "verbose",
    ]
    _estimator_requirements = (BaseEstimator, ClassifierMixin)

    def __init__(
        self,
        classifier: Any,
        eps: float = 0.3,
        norm: float | str = np.inf,
        targeted: bool = False,
        mode: str = "semi-whitebox",
        alpha: float = 10.0,
        beta: float = 1.0,
        c: float = 0.1,
        kappa: float = 0.0,
        nb_epochs: int = 30,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        generator: nn.Module | None = None,
        discriminator: nn.Module | None = None,
        surrogate: nn.Module | None = None,
        distill_epochs: int = 5,
        device_type: str | None = None,
        seed: int = 0,
        precision: str = "auto",
        verbose: bool = True,
    ) -> None:
        super().__init__(estimator=classifier)
        self.eps = eps
        self.norm = norm
        self._targeted = targeted
        self.mode = mode
        self.alpha = alpha
        self.beta = beta
        self.c = c
        self.kappa = kappa
        self.nb_epochs = nb_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.distill_epochs = distill_epochs
        self.device_type = device_type
        self.seed = seed
        self.precision = precision
        self.verbose = verbose
        self.trained_eps: float | None = None
        self._check_params()

        self.input_shape: tuple[int, ...] = tuple(int(v) for v in classifier.input_shape)
        self.nb_classes = int(classifier.nb_classes)
        if len(self.input_shape) != 3:
            raise ValueError(f"classifier: AdvGAN attacks images (C, H, W); input_shape is {self.input_shape}")
        checks.channels_first(classifier, "AdvGAN")
        follow = getattr(classifier, "device", None)
        self.device = torch.device(resolve_device(device_type, "device_type",
                                                  default=follow if isinstance(follow, torch.device) else None))
        if self.mode == "semi-whitebox":
            self._check_gradient_access()

        torch.manual_seed(seed)
        self._custom_generator = generator is not None
        if generator is None:
            generator = AdvGANGenerator(self.input_shape, self.nb_classes if targeted else None)
        if discriminator is None:
            discriminator = AdvGANDiscriminator(self.input_shape)
        if surrogate is None and self.mode == "black-box":
            surrogate = default_surrogate(self.input_shape, self.nb_classes)
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.surrogate = surrogate.to(self.device) if surrogate is not None else None
        self._check_networks()

        self.policy = resolve_policy(self.generator, device=self.device, precision=precision, channels_last=False)
        self.fitted = False
        self.n_queries = 0
        self.history: dict[str, list[float]] = {}
        self.fit_time_s = 0.0

    # ------------------------------------------------------------------ checks
    @property
    def norm_value(self) -> float:
        """The norm as a number: ``inf`` or ``2.0``."""
        return checks.norm_order(self.norm)

    @property
    def norm_key(self) -> str:
        """The norm as the core spells it: ``"inf"`` or ``"2"``."""
        return checks.parse_norm(self.norm)

    def set_params(self, **kwargs: Any) -> None:
        """ART's ``set_params``, all or nothing (:func:`art_ext.attack_checks.atomic_set_params`)."""
        atomic_set_params(self, super().set_params, kwargs)

    def _check_params(self) -> None:
        super()._check_params()
        key = checks.parse_norm(self.norm)
        checks.check_eps(self.eps, norm=key, clip_values=self.estimator.clip_values,
                         input_shape=tuple(self.estimator.input_shape))
        checks.boolean(self._targeted, "targeted")
        checks.choice(self.mode, "mode", MODES)
        checks.seed(self.seed)
        for name in ("alpha", "beta", "c", "kappa"):
            checks.non_negative(getattr(self, name), name)
        checks.positive(self.learning_rate, "learning_rate")
        checks.integer(self.nb_epochs, "nb_epochs", minimum=1)
        checks.integer(self.batch_size, "batch_size", minimum=1)
        checks.integer(self.distill_epochs, "distill_epochs", minimum=0)
        checks.choice(self.precision, "precision", ("auto", "fp32", "bf16", "fp16"))
        checks.boolean(self.verbose, "verbose")
        if getattr(self, "trained_eps", None) is not None and float(self.eps) > float(self.trained_eps) * (1 + 1e-9):  # type: ignore[arg-type]
            logger.warning("eps=%g is above the generator's trained eps=%g: perturbations stay within %g",
                           self.eps, self.trained_eps, self.trained_eps)

    def _check_gradient_access(self) -> None:
        from art.estimators.classification import PyTorchClassifier

        if not isinstance(self.estimator, PyTorchClassifier):
            raise TypeError(
                f"classifier: mode='semi-whitebox' needs the target's gradients (an ART PyTorchClassifier); "
                f"got {type(self.estimator).__name__}. Use mode='black-box' for a classifier known only "
                "through predict()."
            )
        if self.estimator.preprocessing_operations and not self.estimator.all_framework_preprocessing:
            raise TypeError(
                "classifier: mode='semi-whitebox' needs differentiable (PyTorch) preprocessing; this "
                "classifier's preprocessing runs in numpy. Use mode='black-box'."
            )

    def _check_networks(self) -> None:
        x = torch.zeros(2, *self.input_shape, device=self.device)
        target = torch.zeros(2, self.nb_classes, device=self.device) if self.targeted else None
        was_training = self.generator.training
        self.generator.eval()
        try:
            with torch.no_grad():
                out = self.generator(x, target) if target is not None else self.generator(x)
        except Exception as error:
            raise ValueError(
                f"generator failed on an input of shape {tuple(x.shape)}"
                + (" with a one-hot target of shape (N, nb_classes)" if target is not None else "")
                + f": {error}"
            ) from error
        finally:
            self.generator.train(was_training)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(
                f"generator output shape {shape} does not match the input shape {tuple(x.shape)} "
                f"(classifier input_shape {self.input_shape})"
            )
        with torch.no_grad():
            score = self.discriminator(x)
        if not isinstance(score, torch.Tensor) or score.numel() != 2:
            raise ValueError(f"discriminator must return one score per example, got shape {tuple(getattr(score, 'shape', ()))}")

    def _check_x(self, x: Any, name: str = "x") -> np.ndarray:
        """Images checked against the classifier (float dtype, shape, no NaN/inf, in clip_values)."""
        return checks.images(x, input_shape=self.input_shape, clip_values=self.estimator.clip_values, name=name)

    def _labels(self, y: Any, n: int, name: str = "y") -> np.ndarray:
        """Class indices from indices or one-hot, checked against ``nb_classes``."""
        return checks.class_indices(y, nb_classes=self.nb_classes, n=n, name=name)

    # ------------------------------------------------------------------ tensors
    def _clip_bounds(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        clip_values = self.estimator.clip_values
        if clip_values is None:
            return None
        low = torch.as_tensor(np.asarray(clip_values[0], dtype=np.float32), device=self.device)
        high = torch.as_tensor(np.asarray(clip_values[1], dtype=np.float32), device=self.device)
        return low, high

    def perturb(
        self,
        x: torch.Tensor,
        target: torch.Tensor | None = None,
        eps: float | None = None,
        bounds: tuple[Any, Any] | None = None,
    ) -> torch.Tensor:
        """``x + G(x)`` on ``x``'s device, inside the ``eps``-ball and the clip range.

        The generator's tanh output is scaled by the trained eps (before training: ``self.eps``);
        the bound is ``min(eps, trained eps)`` with ``eps`` defaulting to ``self.eps``.
        Differentiable with respect to the generator's weights; used by :meth:`generate`, the
        Foolbox attack and the GAN-based trainer. ``target`` holds class indices (targeted mode).
        """
        scale = float(self.trained_eps if self.trained_eps is not None else self.eps)
        bound = min(float(self.eps if eps is None else eps), scale)
        x = x.float() if x.dtype not in (torch.float32, torch.float64) else x
        with self.policy.autocast():  # the network sees float32 (or bf16 under autocast); x keeps its dtype
            if self.targeted:
                if target is None:
                    raise ValueError("y: targeted AdvGAN needs target classes")
                raw = self.generator(x.float(), nn.functional.one_hot(target, self.nb_classes).float())
            else:
                raw = self.generator(x.float())
        if bounds is None:
            bounds = self._clip_bounds()
        return constrain(x, x + raw.to(x.dtype) * scale, bound, self.norm_key, bounds)  # type: ignore[arg-type]

    def _target_model(self) -> nn.Module:
        return self.estimator.model  # type: ignore[no-any-return]

    def _logits(self, model: nn.Module, x: torch.Tensor, preprocess: bool) -> torch.Tensor:
        if preprocess and self.estimator.preprocessing_operations:
            x, _ = self.estimator._apply_preprocessing(x, None, fit=False, no_grad=False)
        out = model(x)
        if isinstance(out, (list, tuple)):
            out = out[-1]
        return out  # type: ignore[no-any-return]

    def _query(self, x: torch.Tensor) -> torch.Tensor:
        """Labels from the target's ``predict`` (black-box); counts the queries."""
        predictions = self.estimator.predict(x.detach().cpu().numpy(), batch_size=max(self.batch_size, 256))
        self.n_queries += len(x)
        return torch.as_tensor(np.argmax(predictions, axis=1), dtype=torch.long, device=self.device)

    # ------------------------------------------------------------------ training
    def fit(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> dict[str, list[float]]:
        """Train G and D against the frozen target (semi-whitebox) or a distilled surrogate.

        :param x: training inputs ``(N, C, H, W)`` within ``clip_values``.
        :param y: true labels (indices or one-hot). Default: the target's own predictions. In
            targeted mode, targets are sampled uniformly among the other classes on each batch.
        :param nb_epochs: optional override of the ``nb_epochs`` attribute.
        :return: per-epoch history: ``loss_d``, ``loss_gan``, ``loss_adv``, ``loss_hinge``,
            ``success`` (training batches, against the model G is trained on), ``time_s``; black-box
            adds ``surrogate_agreement``, ``target_success`` and ``queries``.
        """
        nb_epochs = checks.integer(kwargs.pop("nb_epochs", self.nb_epochs), "nb_epochs", minimum=1)
        if kwargs:
            raise TypeError(f"fit() got unexpected keyword arguments {sorted(kwargs)} (it takes nb_epochs)")
        x = self._check_x(x)
        start = time.perf_counter()
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        inputs = torch.as_tensor(x, dtype=torch.float32).to(self.device)
        history: dict[str, list[float]] = {
            k: [] for k in ("loss_d", "loss_gan", "loss_adv", "loss_hinge", "success", "time_s")
        }
        black_box = self.mode == "black-box"
        if black_box:
            history.update(surrogate_agreement=[], target_success=[], queries=[])
            model = self.surrogate
            assert model is not None
            clean_labels = self._query(inputs)
            labels = clean_labels if y is None else torch.as_tensor(self._labels(y, len(x)), device=self.device)
            self._train_surrogate(inputs, clean_labels, self.distill_epochs, gen, "distilling surrogate")
        else:
            model = self._target_model()
            if y is None:
                labels = self._predict_labels(model, inputs)
            else:
                labels = torch.as_tensor(self._labels(y, len(x)), device=self.device)

        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.learning_rate)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.learning_rate)
        frozen = [p for p in model.parameters() if p.requires_grad]
        model_modes = snapshot_modes(model)
        bar = tqdm(total=nb_epochs * math.ceil(len(x) / self.batch_size), desc="AdvGAN fit",
                   disable=None if self.verbose else True)
        try:
            for epoch in range(nb_epochs):
                epoch_start = time.perf_counter()
                for p in frozen:
                    p.requires_grad_(False)
                model.eval()
                sums = self._train_epoch(inputs, labels, model, not black_box, opt_g, opt_d, gen, bar)
                for p in frozen:
                    p.requires_grad_(True)
                stats = {k: float(v) for k, v in zip(("loss_d", "loss_gan", "loss_adv", "loss_hinge", "success"), (sums / len(x)).tolist())}
                if black_box:
                    stats.update(self._distill_step(inputs, clean_labels, labels, gen))
                stats["time_s"] = time.perf_counter() - epoch_start
                for key, value in stats.items():
                    history[key].append(value)
                bar.set_postfix(success=f"{stats['success']:.3f}", adv=f"{stats['loss_adv']:.3f}")
                logger.info("AdvGAN epoch %d/%d: %s", epoch + 1, nb_epochs, stats)
        finally:
            for p in frozen:
                p.requires_grad_(True)
            restore_modes(model_modes)
            bar.close()
        self.generator.eval()
        self.trained_eps = float(self.eps)
        self.fitted = True
        self.fit_time_s = time.perf_counter() - start
        self.history = history
        return history

    def _predict_labels(self, model: nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        with eval_mode(model), torch.no_grad():
            return torch.cat([
                self._logits(model, inputs[i : i + 512], True).argmax(1) for i in range(0, len(inputs), 512)
            ])

    def _sample_targets(self, labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        shift = torch.randint(1, self.nb_classes, (len(labels),), generator=gen).to(labels.device)
        return (labels + shift) % self.nb_classes

    def _train_epoch(
        self,
        inputs: torch.Tensor,
        labels: torch.Tensor,
        model: nn.Module,
        preprocess: bool,
        opt_g: torch.optim.Optimizer,
        opt_d: torch.optim.Optimizer,
        gen: torch.Generator,
        bar: Any,
    ) -> torch.Tensor:
        """One epoch of D and G updates; returns summed statistics as one tensor (no host sync)."""
        self.generator.train()
        self.discriminator.train()
        order = torch.randperm(len(inputs), generator=gen).to(self.device)
        sums = torch.zeros(5, device=self.device)
        for start in range(0, len(inputs), self.batch_size):
            index = order[start : start + self.batch_size]
            x_b, y_b = inputs[index], labels[index]
            t_b = self._sample_targets(y_b, gen) if self.targeted else None
            x_adv = self.perturb(x_b, t_b)

            opt_d.zero_grad(set_to_none=True)
            loss_d = discriminator_loss(self.discriminator, x_b, x_adv, self.policy.autocast())
            loss_d.backward()
            opt_d.step()

            opt_g.zero_grad(set_to_none=True)
            goal = t_b if t_b is not None else y_b
            loss_g = generator_loss(
                self.discriminator, lambda v: self._logits(model, v, preprocess), x_b, x_adv, goal,
                targeted=self.targeted, kappa=self.kappa, c=self.c, alpha=self.alpha, beta=self.beta,
                autocast=self.policy.autocast(),
            )
            loss_g.total.backward()
            opt_g.step()

            with torch.no_grad():
                predicted = loss_g.logits.argmax(1)
                hit = predicted == goal if self.targeted else predicted != goal
                n = len(index)
                sums += torch.stack([loss_d * n, loss_g.gan * n, loss_g.adv * n, loss_g.hinge * n, hit.sum()]).detach()
            bar.update(1)
        return sums

    def _train_surrogate(
        self, inputs: torch.Tensor, labels: torch.Tensor, epochs: int, gen: torch.Generator, desc: str
    ) -> None:
        model = self.surrogate
        assert model is not None
        if not hasattr(self, "_opt_s"):
            self._opt_s = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        model.train()
        for _ in tqdm(range(epochs), desc=desc, disable=None if self.verbose and epochs >= 2 else True, leave=False):
            order = torch.randperm(len(inputs), generator=gen).to(self.device)
            for start in range(0, len(inputs), self.batch_size):
                index = order[start : start + self.batch_size]
                self._opt_s.zero_grad(set_to_none=True)
                with self.policy.autocast():
                    logits = model(inputs[index]).float()
                loss = nn.functional.cross_entropy(logits, labels[index])
                loss.backward()
                self._opt_s.step()
        model.eval()

    def _distill_step(
        self, inputs: torch.Tensor, clean_labels: torch.Tensor, labels: torch.Tensor, gen: torch.Generator
    ) -> dict[str, float]:
        """Dynamic distillation: query the target on the current adversarial examples and refit."""
        assert self.surrogate is not None
        self.generator.eval()
        targets = self._sample_targets(labels, gen) if self.targeted else None
        with torch.no_grad():
            x_adv = torch.cat([
                self.perturb(inputs[i : i + 512], None if targets is None else targets[i : i + 512])
                for i in range(0, len(inputs), 512)
            ])
        adv_labels = self._query(x_adv)
        with torch.no_grad():
            surrogate_labels = torch.cat([self.surrogate(x_adv[i : i + 512]).argmax(1) for i in range(0, len(x_adv), 512)])
        agreement = (surrogate_labels == adv_labels).float().mean()
        success = (adv_labels == targets).float().mean() if targets is not None else (adv_labels != labels).float().mean()
        self._train_surrogate(
            torch.cat([inputs, x_adv]), torch.cat([clean_labels, adv_labels]), 1, gen, "distillation"
        )
        return {"surrogate_agreement": float(agreement), "target_success": float(success), "queries": float(self.n_queries)}

    # ------------------------------------------------------------------ attack
    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Adversarial examples in one batched forward pass of the trained generator.

        :param x: inputs ``(N, C, H, W)``.
        :param y: targeted mode: target classes (indices or one-hot), required. Untargeted: ignored.
        :raises NotFittedError: if neither :meth:`fit` nor :meth:`load` has trained the generator.
        """
        if not self.fitted:
            raise NotFittedError("AdvGAN.generate called before fit(): train the generator with fit(x) or load one with AdvGAN.load(path, classifier)")
        x = self._check_x(x)
        targets: torch.Tensor | None = None
        if self.targeted:
            if y is None:
                raise ValueError("y: targeted AdvGAN needs target classes (indices or one-hot)")
            targets = torch.as_tensor(self._labels(y, len(x)), device=self.device)
        inputs = torch.from_numpy(np.ascontiguousarray(x))  # float32 or float64: the output keeps it
        outputs = []
        with eval_mode(self.generator), torch.no_grad():
            for start in range(0, len(inputs), self.batch_size):
                batch = inputs[start : start + self.batch_size].to(self.device, non_blocking=True)
                t = None if targets is None else targets[start : start + self.batch_size]
                outputs.append(self.perturb(batch, t).cpu())
        return torch.cat(outputs).numpy()

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Save the trained generator (safetensors; configuration in the file's metadata)."""
        from safetensors.torch import save_file

        if not self.fitted:
            raise NotFittedError("AdvGAN.save called before fit(): nothing trained to save")
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"path: {path} is a folder; give a file name, e.g. {path / 'advgan.safetensors'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.generator.state_dict().items()}
        partial = path.with_name(f".{path.name}.partial")
        save_file(state, str(partial), metadata=generator_metadata(self))
        partial.replace(path)  # a crash while writing never leaves half a file under the name
        return path

    @classmethod
    def load(
        cls,
        path: str | Path,
        classifier: Any,
        *,
        eps: float | None = None,
        generator: nn.Module | None = None,
        **params: Any,
    ) -> AdvGAN:
        """Load a generator saved by :meth:`save` for ``classifier``.

        :param eps: the budget to attack with; at most the saved (trained) eps, which is a cap.
        :param generator: the module to load the weights into when a custom generator was saved.
        :param params: other :class:`AdvGAN` parameters (``batch_size``, ``device_type``, ...);
            ``norm`` and ``targeted`` come from the file and may only be repeated with the same value.
        :raises FileNotFoundError: no such file.
        :raises ValueError: the file is not a complete art-ext AdvGAN file, or it does not fit the
            classifier (input shape, classes, clip values) or the parameters; one line naming the path.
        """
        meta, state = read_generator_file(Path(path))
        saved_shape = meta["input_shape"]
        if tuple(int(v) for v in classifier.input_shape) != saved_shape:
            raise ValueError(f"classifier: input_shape {tuple(classifier.input_shape)} does not match the generator "
                             f"in {path} ({saved_shape})")
        if int(classifier.nb_classes) != meta["nb_classes"]:
            raise ValueError(f"classifier: {classifier.nb_classes} classes, the generator in {path} has {meta['nb_classes']}")
        saved_clip = meta["clip_values"]
        clip = None if classifier.clip_values is None else np.asarray(classifier.clip_values, dtype=float).tolist()
        if (saved_clip is None) != (clip is None) or (clip is not None and not np.allclose(np.asarray(saved_clip), np.asarray(clip))):
            raise ValueError(f"classifier: clip_values {clip} differ from those the generator in {path} was trained for "
                             f"({saved_clip})")
        saved_eps = meta["eps"]
        if eps is not None and float(checks.positive(eps, "eps")) > saved_eps * (1 + 1e-9):
            raise ValueError(f"eps={eps} exceeds the generator's trained eps={saved_eps} (a cap; train a generator per budget)")
        targeted, saved_norm = meta["targeted"], meta["norm"]
        saved: dict[str, Any] = {"norm": saved_norm, "targeted": targeted}
        for name, value in saved.items():
            if name in params:
                given = checks.parse_norm(params.pop(name)) if name == "norm" else params.pop(name)
                if given != value:
                    raise ValueError(f"{name}={given!r} contradicts the generator in {path} ({name}={value!r})")
        arch = meta["generator"]
        if arch["custom"] and generator is None:
            raise ValueError(f"generator: {path} holds a custom generator; pass the module to load it into")
        if generator is None:
            nb = meta["nb_classes"] if targeted else None
            generator = AdvGANGenerator(saved_shape, nb, width=arch["width"], n_residual=arch["n_residual"])
        try:
            generator.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"generator: the weights in {path} do not fit it ({checks.first_line(error)})") from None
        params.setdefault("mode", meta["mode"])
        params.setdefault("verbose", False)
        if params["mode"] == "semi-whitebox":
            from art.estimators.classification import PyTorchClassifier

            if not isinstance(classifier, PyTorchClassifier):
                params["mode"] = "black-box"  # generation never needs the target's gradients
        attack = cls(classifier, eps=saved_eps if eps is None else float(eps), norm=saved_norm, targeted=targeted,
                     generator=generator, **params)
        attack._custom_generator = bool(arch.get("custom"))
        attack.trained_eps = saved_eps
        attack.generator.eval()
        attack.fitted = True
        return attack

    def __repr__(self) -> str:
        return (
            f"AdvGAN(eps={self.eps}, norm={self.norm!r}, targeted={self.targeted}, mode={self.mode!r}, "
            f"alpha={self.alpha}, beta={self.beta}, c={self.c}, kappa={self.kappa}, nb_epochs={self.nb_epochs}, "
            f"fitted={self.fitted})"
        )


def success_rate(classifier: Any, x_adv: np.ndarray, y: np.ndarray, targeted: bool = False, batch_size: int = 512) -> float:
    """Fraction misclassified (untargeted, ``y`` true labels) or classified as ``y`` (targeted)."""
    labels = np.argmax(y, axis=1) if np.asarray(y).ndim == 2 else np.asarray(y)
    predicted = np.argmax(classifier.predict(x_adv, batch_size=batch_size), axis=1)
    hits = predicted == labels if targeted else predicted != labels
    return float(np.mean(hits))

