"""An ART estimator for Hugging Face ``transformers`` sequence classifiers.

Longer than ~400 lines on purpose: one ART estimator class with ART's required surface (predict,
fit, loss and class gradients, input checks); its model checks live in ``model_checks.py``.

ART works on continuous inputs and has no text estimator (its ``HuggingFaceClassifierPyTorch`` is
for image models). :class:`HuggingFaceTextClassifier` wraps any
``AutoModelForSequenceClassification`` with its tokenizer and really subclasses ART's mixins, so
ART's ``_estimator_requirements`` checks (which look at the MRO) accept it.

Inputs (``x``) accepted by :meth:`~HuggingFaceTextClassifier.predict`,
:meth:`~HuggingFaceTextClassifier.loss_gradient` and
:meth:`~HuggingFaceTextClassifier.class_gradient`:

* a list, tuple or numpy array (``str`` or ``object`` dtype) of strings: tokenized with the
  wrapped tokenizer, padded per batch, truncated to ``max_length`` with a warning;
* integer token ids ``(N, L)``: the attention mask is ``x != pad_token_id`` unless an
  ``attention_mask`` keyword is given, so padding is ignored;
* float input embeddings ``(N, L, D)`` (the output of the model's input-embedding layer, before
  position embeddings): used as ``inputs_embeds``; pass ``attention_mask`` (default: all ones).

Gradients are always with respect to the **input embeddings**: ``loss_gradient`` returns
``(N, L, D)`` and ``class_gradient`` ``(N, C, L, D)`` (``C`` = 1 when ``label`` is given).

Documented behaviour on odd input: an empty string is encoded as the special tokens alone
(``[CLS] [SEP]`` for BERT) and gets a prediction; attacks report it as failed when that prediction
is right (nothing could be changed), skipped when it is wrong. Over-long input is
truncated to ``max_length`` tokens with a ``UserWarning`` (never an error). A tokenizer whose
vocabulary does not fit the model's embedding matrix or that has no pad token, a model without
input embeddings, ``nb_classes`` that differs from the model's, ``max_length`` beyond the model's
position embeddings, labels that are not integral class indices (or exact one-hot rows) in
``[0, nb_classes)``, and non-text input (e.g. an image batch) raise ``ValueError``/``TypeError``
naming the parameter and the value (:mod:`art_ext_plugins.text.model.model_checks`,
:func:`art_ext.checks.class_indices`).

Predictions and gradients are always float32 in eval mode (:meth:`HuggingFaceTextClassifier.eval_mode`),
whatever precision the model was trained in; :meth:`HuggingFaceTextClassifier.fit` trains on the
trainer core under its precision policy (bf16 autocast where the hardware runs it natively).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from art.estimators.classification.classifier import (
    ClassGradientsMixin,
    ClassifierMixin,
)
from art.estimators.estimator import BaseEstimator, LossGradientsMixin
from art_ext_plugins.text.model import model_checks
from torch import nn

import art_ext
from art_ext import checks
from art_ext.core.device import eval_mode
from art_ext.model_io import resolve_device

logger = logging.getLogger(__name__)

__all__ = ["HuggingFaceTextClassifier", "TextInputError"]


class TextInputError(TypeError):
    """Input that is not text, token ids or input embeddings."""


class HuggingFaceTextClassifier(ClassGradientsMixin, ClassifierMixin, LossGradientsMixin, BaseEstimator):
    """ART classifier over a Hugging Face sequence-classification model, gradients on embeddings.

    :param model: a ``transformers`` ``*ForSequenceClassification`` model (BERT, DistilBERT,
        RoBERTa, MiniLM, ...): any ``nn.Module`` with ``get_input_embeddings()`` whose forward
        accepts ``inputs_embeds`` and ``attention_mask`` and returns ``.logits`` or a tensor.
    :param tokenizer: the matching tokenizer (a ``transformers`` tokenizer, fast preferred); it
        must have a pad token (a ``ValueError`` says how to set one).
    :param nb_classes: number of classes; default ``model.config.num_labels`` (or the output
        width of a probe forward pass); a different value is a ``ValueError``.
    :param max_length: maximum tokens per sequence including special tokens (default 128; at
        most the model's position embeddings); longer text is truncated with a warning.
    :param batch_size: default batch size of ``predict`` and the gradients (default 32).
    :param device_type: ``"cpu"``, ``"gpu"``/``"cuda"``, ``"cuda:N"`` or ``None`` (CUDA if present).
    :param loss: loss on logits and index labels (default ``nn.CrossEntropyLoss()``).
    :param optimizer: optimizer used by :meth:`fit` (default AdamW, lr 2e-5, created lazily).

    Example::

        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        tokenizer = AutoTokenizer.from_pretrained(path)
        clf = HuggingFaceTextClassifier(model, tokenizer, max_length=64)
        logits = clf.predict(["a gorgeous film", "dull and lifeless"])
        ids, mask = clf.encode(["a gorgeous film"])
        grad = clf.loss_gradient(ids, np.array([1]))  # (1, L, hidden)
    """

    estimator_params = (
        BaseEstimator.estimator_params + ClassifierMixin.estimator_params + ["max_length", "batch_size"]
    )

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        nb_classes: int | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        device_type: str | torch.device | None = "cpu",
        loss: nn.Module | None = None,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> None:
        embeddings = model_checks.input_embeddings(model)
        if tokenizer is None or not callable(tokenizer) or not hasattr(tokenizer, "convert_ids_to_tokens"):
            raise TypeError(f"tokenizer must be a transformers tokenizer, got {type(tokenizer).__name__}")
        vocab = len(tokenizer)
        if vocab > embeddings.num_embeddings:
            raise ValueError(
                f"tokenizer/model vocabulary mismatch: the tokenizer has {vocab} tokens but the model's input "
                f"embedding matrix has {embeddings.num_embeddings} rows; use the tokenizer the model was trained with"
            )
        pad = model_checks.pad_token_id(tokenizer)
        nb_classes = model_checks.num_classes(model, embeddings, nb_classes)
        max_length = model_checks.check_max_length(model, max_length)
        checks.integer(batch_size, "batch_size", minimum=1)
        super().__init__(
            model=model, clip_values=None, preprocessing_defences=None, postprocessing_defences=None,
            preprocessing=None,
        )
        self.nb_classes = int(nb_classes)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self._device = torch.device(resolve_device(device_type, "device_type"))
        self._model.to(self._device)
        self._loss = loss if loss is not None else nn.CrossEntropyLoss()
        self._optimizer = optimizer
        self.pad_token_id: int = pad
        special = set(int(i) for i in getattr(tokenizer, "all_special_ids", []) or [])
        special.add(self.pad_token_id)
        self.special_ids: np.ndarray = np.array(sorted(special), dtype=np.int64)
        self._special_ids_t = torch.as_tensor(self.special_ids, device=self._device)
        self._scale: float | None = None

    # ------------------------------------------------------------------ properties
    @property
    def model(self) -> nn.Module:
        return self._model  # type: ignore[no-any-return]

    @property
    def optimizer(self) -> torch.optim.Optimizer | None:
        """The optimizer given at construction (or created by :meth:`fit`), else ``None``."""
        return self._optimizer

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def input_shape(self) -> tuple[int, ...]:
        """``(max_length,)``: token ids; embeddings are ``(max_length, hidden)``."""
        return (self.max_length,)

    @property
    def embedding_layer(self) -> nn.Embedding:
        return self._model.get_input_embeddings()  # type: ignore[no-any-return]

    @property
    def embedding_matrix(self) -> torch.Tensor:
        """The input-embedding matrix ``(V, D)``, detached."""
        return self.embedding_layer.weight.detach()

    @property
    def hidden_size(self) -> int:
        return int(self.embedding_layer.embedding_dim)

    @property
    def embedding_scale(self) -> float:
        """Mean L2 norm of the non-special vocabulary embeddings (the unit of relative eps)."""
        if self._scale is None:
            weight = self.embedding_matrix
            keep = torch.ones(weight.shape[0], dtype=torch.bool, device=weight.device)
            keep[self._special_ids_t[self._special_ids_t < weight.shape[0]]] = False
            self._scale = float(weight[keep].norm(dim=1).mean().item())
        return self._scale

    def reset_embedding_scale(self) -> None:
        """Forget the cached :attr:`embedding_scale` (call after training changed the embeddings)."""
        self._scale = None

    # ------------------------------------------------------------------ encoding
    def encode(self, texts: Sequence[str] | np.ndarray, max_length: int | None = None,
               padding: str | bool = "longest") -> tuple[np.ndarray, np.ndarray]:
        """Tokenize strings to ``(ids, attention_mask)`` int64 arrays ``(N, L)``.

        Text longer than ``max_length`` tokens is truncated with a ``UserWarning``.
        """
        strings = self._as_strings(texts)
        max_length = self.max_length if max_length is None else max_length
        if not strings:
            return np.zeros((0, 2), dtype=np.int64), np.zeros((0, 2), dtype=np.int64)
        full = self.tokenizer(strings, truncation=False, add_special_tokens=True)["input_ids"]
        too_long = [i for i, ids in enumerate(full) if len(ids) > max_length]
        if too_long:
            warnings.warn(
                f"{len(too_long)} text(s) longer than max_length={max_length} tokens were truncated "
                f"(first at index {too_long[0]}, {len(full[too_long[0]])} tokens)",
                UserWarning, stacklevel=2,
            )
        enc = self.tokenizer(strings, truncation=True, max_length=max_length, padding=padding,
                             return_tensors="np")
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        mask = np.asarray(enc["attention_mask"], dtype=np.int64)
        return ids, mask

    @staticmethod
    def _as_strings(texts: Any) -> list[str]:
        if isinstance(texts, str):
            return [texts]
        if isinstance(texts, np.ndarray):
            if texts.ndim != 1 or texts.dtype.kind not in "UO":
                raise TextInputError(f"x: expected a 1-D array of strings, got dtype {texts.dtype} shape {texts.shape}")
            texts = texts.tolist()
        out = []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TextInputError(f"x[{i}]: expected a string, got {type(text).__name__}")
            out.append(text)
        return out

    def _classify_input(self, x: Any) -> str:
        """'text', 'ids' or 'embeddings'; raise TextInputError otherwise."""
        if isinstance(x, str):
            return "text"
        if isinstance(x, (list, tuple)):
            if all(isinstance(t, str) for t in x):
                return "text"
            if any(isinstance(t, str) for t in x):  # numpy would quietly turn 3 or None into "3", "None"
                first = next(i for i, t in enumerate(x) if not isinstance(t, str))
                raise TextInputError(f"x[{first}]: expected a string, got {type(x[first]).__name__}")
            x = np.asarray(x)
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if not isinstance(x, np.ndarray):
            raise TextInputError(f"x: expected strings, token ids (N, L) or embeddings (N, L, D), got {type(x).__name__}")
        if x.dtype.kind in "UO":
            if x.ndim == 1:
                return "text"
            raise TextInputError(f"x: a string array must be 1-D, got shape {x.shape}")
        if x.dtype.kind in "iu" and x.ndim == 2:
            return "ids"
        if x.dtype.kind == "f" and x.ndim == 3:
            if x.shape[-1] != self.hidden_size:
                raise ValueError(f"x: embeddings have last dimension {x.shape[-1]}, the model's hidden size is {self.hidden_size}")
            return "embeddings"
        raise TextInputError(
            f"x: not text input: got a {x.dtype} array of shape {x.shape}; expected strings, integer token ids "
            f"(N, L) or float input embeddings (N, L, {self.hidden_size})"
        )

    def to_ids(self, x: Any, attention_mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Strings or token ids -> ``(ids, attention_mask)`` (validated)."""
        kind = self._classify_input(x)
        if kind == "text":
            return self.encode(x)
        if kind != "ids":
            raise TextInputError("x: expected strings or token ids, got embeddings")
        ids = np.asarray(x, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= self.embedding_layer.num_embeddings):
            raise ValueError(
                f"x: token ids must lie in [0, {self.embedding_layer.num_embeddings}), got range "
                f"[{ids.min()}, {ids.max()}] (tokenizer/model vocabulary mismatch?)"
            )
        mask = self.default_mask(ids) if attention_mask is None else np.asarray(attention_mask, dtype=np.int64)
        if mask.shape != ids.shape:
            raise ValueError(f"attention_mask: shape {mask.shape} does not match x {ids.shape}")
        if ids.shape[1] > self.max_length:
            warnings.warn(f"token ids of length {ids.shape[1]} truncated to max_length={self.max_length}",
                          UserWarning, stacklevel=2)
            ids, mask = ids[:, : self.max_length], mask[:, : self.max_length]
        return ids, mask

    def default_mask(self, ids: np.ndarray) -> np.ndarray:
        """Attention mask of token ids: ``ids != pad_token_id``."""
        return (ids != self.pad_token_id).astype(np.int64)

    def real_token_mask(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Bool mask of real (attended, non-special) tokens: the only ones attacks may change."""
        special = torch.isin(ids, self._special_ids_t.to(ids.device))
        return attention_mask.bool() & ~special

    # ------------------------------------------------------------------ torch-level API
    @contextlib.contextmanager
    def eval_mode(self) -> Iterator[None]:
        """Eval mode and float32 (autocast off) for the block, what every prediction, gradient
        and attack runs under; afterwards every sub-module is back in its own previous mode."""
        with eval_mode(self._model), torch.autocast(device_type=self._device.type, enabled=False):
            yield

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Word embeddings of token ids (no position embeddings)."""
        return self.embedding_layer(ids.to(self._device))  # type: ignore[no-any-return]

    def logits_from_embeddings(self, embeddings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Forward pass on input embeddings ``(N, L, D)`` with the attention mask; returns logits."""
        out = self._model(inputs_embeds=embeddings, attention_mask=attention_mask)
        logits = out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out
        return logits  # type: ignore[no-any-return]

    def logits_from_ids(self, ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.logits_from_embeddings(self.embed(ids), attention_mask.to(self._device))

    def _batches(self, x: Any, attention_mask: np.ndarray | None, batch_size: int | None,
                 ) -> Iterator[tuple[slice, torch.Tensor, torch.Tensor]]:
        """Yield ``(slice, embeddings, mask)`` batches, trimmed to the longest real sequence."""
        kind = self._classify_input(x)
        batch_size = self.batch_size if batch_size is None else checks.integer(batch_size, "batch_size", minimum=1)
        if kind == "embeddings":
            emb_all = np.asarray(x, dtype=np.float32)
            mask_all = (np.ones(emb_all.shape[:2], dtype=np.int64) if attention_mask is None
                        else np.asarray(attention_mask, dtype=np.int64))
            if mask_all.shape != emb_all.shape[:2]:
                raise ValueError(f"attention_mask: shape {mask_all.shape} does not match x {emb_all.shape[:2]}")
            for start in range(0, len(emb_all), batch_size):
                sl = slice(start, start + batch_size)
                yield (sl, torch.as_tensor(emb_all[sl], device=self._device),
                       torch.as_tensor(mask_all[sl], device=self._device))
            return
        ids_all, mask_all = self.to_ids(x, attention_mask)
        for start in range(0, len(ids_all), batch_size):
            sl = slice(start, start + batch_size)
            b_ids, b_mask = trim_batch(ids_all[sl], mask_all[sl])
            ids_t = torch.as_tensor(b_ids, device=self._device)
            yield sl, self.embed(ids_t), torch.as_tensor(b_mask, device=self._device)

    # ------------------------------------------------------------------ ART API
    def predict(self, x: Any, batch_size: int | None = None, attention_mask: np.ndarray | None = None,
                **kwargs: Any) -> np.ndarray:
        """Logits ``(N, nb_classes)`` for strings, token ids or input embeddings."""
        outputs = []
        with self.eval_mode(), torch.no_grad():
            for _, emb, mask in self._batches(x, attention_mask, batch_size):
                outputs.append(self.logits_from_embeddings(emb, mask).float().cpu().numpy())
        if not outputs:
            return np.zeros((0, self.nb_classes), dtype=np.float32)
        return np.concatenate(outputs).astype(np.float32)

    _predict_as_given = predict  # kept unwrapped: see the note after the class

    def check_labels(self, y: Any, n: int, name: str = "y") -> np.ndarray:
        """``y`` as int64 class indices, checked by :func:`art_ext.checks.class_indices` against
        this model's ``nb_classes`` (index or exactly one-hot labels, integral, in range)."""
        return checks.class_indices(y, nb_classes=self.nb_classes, n=n, name=name)

    def _pad_grad(self, grad: torch.Tensor, length: int) -> np.ndarray:
        out = grad.float().cpu().numpy()
        if out.shape[-2] < length:
            pad = [(0, 0)] * out.ndim
            pad[-2] = (0, length - out.shape[-2])
            out = np.pad(out, pad)
        return out

    def _full_length(self, x: Any) -> int | None:
        kind = self._classify_input(x)
        if kind in ("ids", "embeddings"):
            return min(int(np.asarray(x).shape[1]), self.max_length)
        return None

    def loss_gradient(self, x: Any, y: Any, batch_size: int | None = None,
                      attention_mask: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        """Gradient of the loss w.r.t. the input embeddings, ``(N, L, D)`` (index or one-hot ``y``).

        For string input, ``L`` is the longest encoded sentence in ``x``.
        """
        n = len(x)
        labels = self.check_labels(y, n)
        grads = self._grad_batches(x, attention_mask, batch_size,
                                   lambda logits, sl: self._loss(logits, torch.as_tensor(labels[sl], device=self._device)))
        return grads

    def _grad_batches(self, x: Any, attention_mask: np.ndarray | None, batch_size: int | None,
                      objective: Any) -> np.ndarray:
        length = self._full_length(x)
        chunks: list[torch.Tensor] = []
        with self.eval_mode():
            for sl, emb, mask in self._batches(x, attention_mask, batch_size):
                emb = emb.detach().requires_grad_(True)
                value = objective(self.logits_from_embeddings(emb, mask), sl)
                (grad,) = torch.autograd.grad(value, emb)
                chunks.append(grad)
        if length is None:
            length = max((c.shape[-2] for c in chunks), default=0)
        return np.concatenate([self._pad_grad(c, length) for c in chunks]) if chunks else np.zeros((0, 0, self.hidden_size), np.float32)

    def class_gradient(self, x: Any, label: int | list[int] | np.ndarray | None = None,
                       batch_size: int | None = None, attention_mask: np.ndarray | None = None,
                       **kwargs: Any) -> np.ndarray:
        """Gradients of the logits w.r.t. the input embeddings: ``(N, C, L, D)``, ``C = 1`` with ``label``."""
        n = len(x)
        if label is None:
            classes: list[np.ndarray] = [np.full(n, c) for c in range(self.nb_classes)]
        elif checks.is_real(label):
            classes = [self.check_labels(np.full(n, label), n, "label")]
        else:
            classes = [self.check_labels(label, n, "label")]
        per_class = []
        for cls in classes:
            per_class.append(self._grad_batches(
                x, attention_mask, batch_size,
                lambda logits, sl, cls=cls: logits.gather(1, torch.as_tensor(cls[sl], device=self._device)[:, None]).sum(),
            ))
        return np.stack(per_class, axis=1)

    def compute_loss(self, x: Any, y: Any, reduction: str = "none", attention_mask: np.ndarray | None = None,
                     **kwargs: Any) -> np.ndarray:
        """Per-sample cross-entropy (``reduction`` 'none', 'mean' or 'sum')."""
        logits = torch.as_tensor(self.predict(x, attention_mask=attention_mask))
        labels = torch.as_tensor(self.check_labels(y, len(logits)))
        losses = nn.functional.cross_entropy(logits, labels, reduction="none").numpy()
        if reduction == "mean":
            return np.asarray(losses.mean())
        if reduction == "sum":
            return np.asarray(losses.sum())
        return losses  # type: ignore[no-any-return]

    def fit(self, x: Any, y: Any, batch_size: int = 32, nb_epochs: int = 1, lr: float = 2e-5,
            seed: int = 0, verbose: bool = False, precision: str = "auto", **kwargs: Any) -> None:
        """Plain (non-adversarial) fine-tuning with cross-entropy: the ART ``fit`` contract.

        Runs the registered ``text-standard`` trainer
        (:class:`~art_ext_plugins.text.training.trainers.TextTrainer`) on the trainer core (its
        precision policy: ``"auto"`` = bf16 autocast where the hardware runs it natively;
        ``"fp32"`` to force float32). Adversarial training lives in the trainers (``freelb``,
        ``text-embedding-pgd``, ``text-fgm``).
        """
        learning = {"optimizer": self._optimizer} if self._optimizer is not None else {"lr": lr}
        # through the registry, as any trainer is found: the trainers module builds on this one
        trainer: Any = art_ext.get_trainer("text-standard", self, **learning, batch_size=batch_size,
                                           nb_epochs=nb_epochs, seed=seed, verbose=verbose, precision=precision)
        trainer.fit(x, y)
        if self._optimizer is None:
            self._optimizer = trainer.optimizer
        self._scale = None

    _fit_as_given = fit  # kept unwrapped: see the note after the class

    def get_activations(self, x: Any, layer: int | str, batch_size: int = 128, framework: bool = False) -> np.ndarray:
        raise NotImplementedError("get_activations is not supported by HuggingFaceTextClassifier")

    def save(self, filename: str, path: str | None = None) -> None:
        """Save model and tokenizer with ``save_pretrained`` into ``path/filename``."""
        import os

        target = filename if path is None else os.path.join(path, filename)
        self._model.save_pretrained(target)  # type: ignore[operator]
        self.tokenizer.save_pretrained(target)

    @classmethod
    def from_pretrained(cls, path: str, num_labels: int | None = None, **kwargs: Any) -> HuggingFaceTextClassifier:
        """Load model and tokenizer from a local folder (never downloads).

        :param num_labels: ``None`` (default): the folder's trained classification head and its
            number of labels, or a fresh 2-way head on a base model (e.g. a sentence-transformers
            folder); an integer for a fresh head of that size (must match a trained head).
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        labels = model_checks.pretrained_num_labels(str(path), num_labels)
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=labels, local_files_only=True)
        return cls(model, tokenizer, **kwargs)

    def clone_for_refitting(self) -> HuggingFaceTextClassifier:
        import copy

        return type(self)(copy.deepcopy(self._model), self.tokenizer, nb_classes=self.nb_classes,
                          max_length=self.max_length, batch_size=self.batch_size, device_type=self._device)


# ART's InputFilter metaclass replaces a class's own ``predict`` and ``fit`` with wrappers that call
# ``np.array(x)`` first, which turns ["good", 3, None] into ["good", "3", "None"]: text input reaches
# the estimator's checks as the caller gave it instead (the methods are the class's own, unwrapped).
HuggingFaceTextClassifier.predict = HuggingFaceTextClassifier._predict_as_given  # type: ignore[method-assign]
HuggingFaceTextClassifier.fit = HuggingFaceTextClassifier._fit_as_given  # type: ignore[method-assign]


def trim_batch(ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop trailing columns where every sequence is padding."""
    used = np.nonzero(mask.any(axis=0))[0]
    length = int(used[-1]) + 1 if len(used) else 1
    return ids[:, :length], mask[:, :length]
