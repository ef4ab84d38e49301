"""Checks of a Hugging Face model and tokenizer before :class:`HuggingFaceTextClassifier` wraps them.

Each raises a ``ValueError``/``TypeError`` that names the parameter, the value and how to fix it:

* :func:`input_embeddings`: the model must have an ``nn.Embedding`` input layer;
* :func:`pad_token_id`: the tokenizer must have a pad token (batches are padded);
* :func:`num_classes`: ``nb_classes`` must match the model's output width
  (``model.config.num_labels``, else a probe forward pass);
* :func:`check_max_length`: ``max_length`` may not exceed the model's position embeddings;
* :func:`pretrained_num_labels`: how many labels ``from_pretrained`` loads from a folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from art_ext import checks
from art_ext.core.device import eval_mode

__all__ = ["check_max_length", "input_embeddings", "max_positions", "num_classes", "pad_token_id",
           "pretrained_num_labels"]

#: model types whose position ids start after the padding index (usable = max_position_embeddings - pad - 1)
OFFSET_POSITIONS = frozenset({"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "longformer", "data2vec-text",
                              "roberta-prelayernorm", "mpnet", "ibert", "luke", "xmod"})


def input_embeddings(model: Any) -> nn.Embedding:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (a transformers model), got {type(model).__name__}")
    try:
        embeddings = model.get_input_embeddings()  # type: ignore[operator]
    except (AttributeError, NotImplementedError) as error:
        raise TypeError(
            f"model {type(model).__name__} has no input embeddings (get_input_embeddings() failed: "
            f"{error!r}); HuggingFaceTextClassifier needs a model whose forward accepts inputs_embeds"
        ) from error
    if not isinstance(embeddings, nn.Embedding):
        raise TypeError(f"model {type(model).__name__}: get_input_embeddings() returned {type(embeddings).__name__}, "
                        "expected a torch.nn.Embedding")
    return embeddings


def pad_token_id(tokenizer: Any) -> int:
    pad = getattr(tokenizer, "pad_token_id", None)
    if pad is None:
        raise ValueError(
            f"tokenizer: {type(tokenizer).__name__} has no pad token (pad_token_id is None), and batches are padded; "
            "set one before wrapping, e.g. tokenizer.pad_token = tokenizer.eos_token and "
            "model.config.pad_token_id = tokenizer.pad_token_id (or add a new '[PAD]' token with "
            "tokenizer.add_special_tokens and model.resize_token_embeddings(len(tokenizer)))"
        )
    return int(pad)


def _probe_width(model: nn.Module, embeddings: nn.Embedding) -> int | None:
    """Output width of a forward pass on one tiny input (models without a config)."""
    device = embeddings.weight.device
    x = torch.zeros((1, 2, embeddings.embedding_dim), device=device, dtype=embeddings.weight.dtype)
    try:
        with torch.no_grad(), eval_mode(model):
            out = model(inputs_embeds=x, attention_mask=torch.ones((1, 2), dtype=torch.long, device=device))
    except Exception:
        return None
    logits = out.logits if hasattr(out, "logits") else out[0] if isinstance(out, (tuple, list)) else out
    return int(logits.shape[-1]) if isinstance(logits, torch.Tensor) and logits.dim() == 2 else None


def num_classes(model: nn.Module, embeddings: nn.Embedding, nb_classes: Any) -> int:
    """``nb_classes`` checked against the model (``None``: the model's own number of outputs)."""
    config_labels = getattr(getattr(model, "config", None), "num_labels", None)
    width: int | None
    if isinstance(config_labels, int) and config_labels > 0:
        width, source = config_labels, "model.config.num_labels"
    else:
        width, source = _probe_width(model, embeddings), "the model's output width"
    if nb_classes is None:
        if width is None:
            raise ValueError("nb_classes: cannot infer the number of classes (no model.config.num_labels and a probe "
                             "forward pass failed); pass nb_classes=")
        nb_classes = width
    value = checks.integer(nb_classes, "nb_classes", minimum=2)
    if width is not None and value != width:
        raise ValueError(f"nb_classes={value} does not match the model: {source} is {width}")
    return value


def max_positions(model: nn.Module) -> int | None:
    """How many tokens the model's position embeddings take (``None`` if it does not say)."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_seq_len"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            if getattr(config, "model_type", None) in OFFSET_POSITIONS:
                value -= int(getattr(config, "pad_token_id", 1) or 0) + 1
            return value
    return None


def check_max_length(model: nn.Module, max_length: Any) -> int:
    value = checks.integer(max_length, "max_length", minimum=2)
    limit = max_positions(model)
    if limit is not None and value > limit:
        config = getattr(model, "config", None)
        raw = getattr(config, "max_position_embeddings", getattr(config, "n_positions", limit))
        raise ValueError(f"max_length={value} exceeds the model's {limit} position embeddings "
                         f"(config.max_position_embeddings = {raw}); use max_length <= {limit}")
    return value


def pretrained_num_labels(path: str, num_labels: Any) -> int:
    """Labels to load from a folder: its trained head's (``num_labels=None``) or a fresh 2-way head."""
    from transformers import AutoConfig

    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"path: {path!r} is not a folder with a Hugging Face model and tokenizer")
    if not (folder / "config.json").is_file():
        held = sorted(p.name for p in folder.iterdir())[:5]
        raise ValueError(f"path: {path} holds no Hugging Face model (no config.json; it holds "
                         f"{', '.join(held) if held else 'nothing'}): pass the folder save_pretrained wrote")
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError) as error:
        raise ValueError(f"path: {path} has an unreadable config.json ({checks.first_line(error)})") from None
    trained = any(str(a).endswith("ForSequenceClassification") for a in (getattr(config, "architectures", None) or []))
    if num_labels is None:
        return int(config.num_labels) if trained else 2
    value = checks.integer(num_labels, "num_labels", minimum=2)
    if trained and value != int(config.num_labels):
        raise ValueError(f"num_labels={value}, but {path} holds a trained head with {config.num_labels} labels; "
                         "pass num_labels=None to load it (another number needs a fresh head on the base model)")
    return value
