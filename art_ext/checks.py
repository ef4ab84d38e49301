"""Input checks shared by every attack, trainer, estimator and loader: one definition per rule.

Longer than ~400 lines on purpose: it is the one home of every input rule (the issue of one
definition per concept); splitting it would give each rule two places to look.

Every check raises a ``ValueError`` or ``TypeError`` whose message starts with the name of the
parameter and shows the offending value (``"eps must be a finite number > 0, got -0.1"``), in
ART's ``_check_params`` style. Plugins call these instead of writing their own, so a rule (what
a norm may be called, what a one-hot label is, how far ``eps`` may go for an input range) is
decided here once.

* scalars: :func:`number`, :func:`positive`, :func:`non_negative`, :func:`integer`,
  :func:`boolean`, :func:`choice`;
* norms: :func:`parse_norm` (``"inf"``/``"2"``), :func:`norm_order` (``np.inf``/``2.0`` for ART
  and Foolbox);
* ranges: :func:`clip_bounds`, :func:`check_eps` (a budget may not exceed the input range);
* data: :func:`images` (type, dtype, shape, NaN/inf, range), :func:`class_indices` (index or
  one-hot labels, integral, in range), :func:`same_length`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "FLOAT_DTYPES",
    "NORMS",
    "RANGE_TOLERANCE",
    "boolean",
    "channels_first",
    "check_eps",
    "choice",
    "class_indices",
    "clip_bounds",
    "first_line",
    "images",
    "input_span",
    "integer",
    "is_real",
    "logits",
    "model_weights",
    "non_negative",
    "norm_name",
    "norm_order",
    "number",
    "parse_norm",
    "positive",
    "same_length",
    "seed",
]

#: the norms art-ext's attacks and trainers implement
NORMS: tuple[str, ...] = ("inf", "2")
#: dtypes accepted for images: an integer image would truncate any perturbation added to it
FLOAT_DTYPES: tuple[type, ...] = (np.float32, np.float64)
#: values this far outside ``clip_values`` (relative to the range) still count as inside
RANGE_TOLERANCE = 1e-6

_NORM_SPELLINGS = {
    "inf": ("inf", "linf", "l_inf", "infinity", "np.inf"),
    "2": ("2", "l2", "l_2", "2.0"),
    "1": ("1", "l1", "l_1", "1.0"),
}


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_real(value: Any) -> bool:
    """A real number (int or float, numpy included), not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# --------------------------------------------------------------------------- scalars


def number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """A finite real number within the given bounds, as a float."""
    if not is_real(value):
        raise TypeError(f"{name} must be a number, got {_shown(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name} must be a finite number, got {_shown(value)}")
    too_low = low is not None and (result < low if low_inclusive else result <= low)
    too_high = high is not None and (result > high if high_inclusive else result >= high)
    if too_low or too_high:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        bounds = f"{'[' if low_inclusive and low is not None else '('}{left}, {right}{']' if high_inclusive and high is not None else ')'}"
        raise ValueError(f"{name} must be in {bounds}, got {_shown(value)}")
    return result


def positive(value: Any, name: str) -> float:
    """A finite number > 0."""
    if is_real(value) and math.isfinite(float(value)) and not float(value) > 0:
        raise ValueError(f"{name} must be a finite number > 0, got {_shown(value)}")
    return number(value, name, low=0.0, low_inclusive=False)


def non_negative(value: Any, name: str) -> float:
    """A finite number >= 0."""
    if is_real(value) and math.isfinite(float(value)) and float(value) < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {_shown(value)}")
    return number(value, name, low=0.0)


def integer(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (not a bool, not a float) within the bounds."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        what = "a positive integer" if minimum == 1 else "an integer"
        raise TypeError(f"{name} must be {what}, got {_shown(value)}")
    result = int(value)
    if minimum is not None and result < minimum:
        what = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {_shown(value)}")
    if maximum is not None and result > maximum:
        raise ValueError(f"{name} must be an integer <= {maximum}, got {_shown(value)}")
    return result


#: the largest seed every generator art-ext seeds accepts (numpy's legacy ``np.random.seed``)
MAX_SEED = 2**32 - 1


def seed(value: Any, name: str = "seed") -> int:
    """A random seed: an integer in ``[0, 2**32 - 1]``."""
    return integer(value, name, minimum=0, maximum=MAX_SEED)


def boolean(value: Any, name: str) -> bool:
    """A bool (``True``/``False``; not 0/1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_shown(value)}")
    return bool(value)


def choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """One of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {_shown(value)}")
    return value


def number_text(text: str, name: str) -> float:
    """A number typed on a command line: a decimal (``0.031``) or a fraction (``8/255``, the way
    image budgets are written)."""
    numerator, slash, denominator = str(text).replace(" ", "").partition("/")
    try:
        value = float(numerator) / float(denominator) if slash else float(numerator)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{name} must be a number or a fraction like 8/255, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {text!r}")
    return value


# --------------------------------------------------------------------------- norms


def parse_norm(norm: Any, name: str = "norm", allowed: Sequence[str] = NORMS) -> str:
    """``"inf"``, ``"2"`` (or ``"1"`` where allowed) from any common spelling.

    Accepted: ``np.inf``, ``float("inf")``, ``"inf"``, ``"linf"``, ``2``, ``2.0``, ``"2"``,
    ``"l2"`` (and ``1``, ``"l1"``); case and surrounding spaces do not matter.
    """
    key: str | None = None
    if isinstance(norm, str):
        text = norm.strip().lower()
        key = next((k for k, spellings in _NORM_SPELLINGS.items() if text in spellings), None)
    elif is_real(norm):
        value = float(norm)
        key = "inf" if math.isinf(value) and value > 0 else {2.0: "2", 1.0: "1"}.get(value)
    if key is None or key not in allowed:
        names = " or ".join({"inf": "'inf' (np.inf)", "2": "'2' (L2)", "1": "'1' (L1)"}[k] for k in allowed)
        raise ValueError(f"{name} must be {names}, got {_shown(norm)}")
    return key


def norm_name(norm: Any) -> str | None:
    """A norm as tables show it: ``"inf"``, ``"2"``, ``"1"`` from any spelling, another one as its
    text (an attack's own L0), ``None`` for none. Lenient: for describing, never for attacking."""
    if norm is None:
        return None
    try:
        return parse_norm(norm, allowed=("inf", "2", "1"))
    except ValueError:
        return str(norm).strip().lower()


def norm_order(norm: Any, name: str = "norm") -> float:
    """The norm as ART and Foolbox spell it: ``np.inf`` or ``2.0`` (``1.0``)."""
    key = parse_norm(norm, name, allowed=("inf", "2", "1"))
    return {"inf": float(np.inf), "2": 2.0, "1": 1.0}[key]


# --------------------------------------------------------------------------- ranges


def clip_bounds(
    clip_values: Any, input_shape: Sequence[int] | None = None, name: str = "clip_values"
) -> tuple[np.ndarray, np.ndarray] | None:
    """``(low, high)`` as float arrays broadcastable to ``input_shape`` (scalars or per feature),
    checked ``low < high`` everywhere; ``None`` when there are no bounds."""
    if clip_values is None:
        return None
    try:
        low_raw, high_raw = clip_values[0], clip_values[1]
        if len(clip_values) != 2:
            raise IndexError
    except (TypeError, IndexError, KeyError):
        raise ValueError(f"{name} must be a pair (min, max), got {_shown(clip_values)}") from None
    low = np.asarray(low_raw, dtype=np.float64)
    high = np.asarray(high_raw, dtype=np.float64)
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError(f"{name} must be finite, got {_shown(clip_values)}")
    if input_shape is not None:
        try:
            np.broadcast_shapes(low.shape, tuple(input_shape))
            np.broadcast_shapes(high.shape, tuple(input_shape))
        except ValueError:
            raise ValueError(
                f"{name} of shapes {low.shape} / {high.shape} do not broadcast to the input shape {tuple(input_shape)}"
            ) from None
    if np.any(low >= high):
        raise ValueError(f"{name} must have min < max everywhere, got {_shown(clip_values)}")
    return low, high


def input_span(clip_values: Any) -> float | None:
    """The largest ``max - min`` of ``clip_values`` (``None`` without bounds)."""
    bounds = clip_bounds(clip_values)
    if bounds is None:
        return None
    return float(np.max(bounds[1] - bounds[0]))


def check_eps(
    eps: Any,
    *,
    norm: Any = "inf",
    clip_values: Any = None,
    input_shape: Sequence[int] | None = None,
    name: str = "eps",
) -> float:
    """A budget ``> 0`` that does not exceed the input range.

    With ``clip_values`` the largest meaningful budget is the span of the inputs: the largest
    ``max - min`` for Linf, the diagonal of the box (``sqrt(sum((max - min)^2))`` over the
    ``input_shape``) for L2. A larger eps is almost always a unit mistake (0-255 vs 0-1).
    """
    value = positive(eps, name)
    key = parse_norm(norm)
    bounds = clip_bounds(clip_values, input_shape)
    if bounds is None:
        return value
    span = np.broadcast_to(bounds[1] - bounds[0], tuple(input_shape)) if input_shape is not None else bounds[1] - bounds[0]
    limit = float(np.max(span)) if key == "inf" else float(np.sqrt(np.sum(np.square(span))))
    if key == "2" and input_shape is None:
        limit = float("inf")  # the box diagonal needs the shape
    if value > limit * (1 + 1e-9):
        raise ValueError(
            f"{name}={value:g} exceeds the input range: clip_values {_range_text(bounds)} allow at most "
            f"{limit:g} under the {'Linf' if key == 'inf' else 'L2'} norm"
        )
    return value


def _range_text(bounds: tuple[np.ndarray, np.ndarray]) -> str:
    low, high = bounds
    if low.size == 1 and high.size == 1:
        return f"({float(low.reshape(-1)[0]):g}, {float(high.reshape(-1)[0]):g})"
    return f"(per feature, min {float(low.min()):g}, max {float(high.max()):g})"


# --------------------------------------------------------------------------- data


def _as_array(value: Any, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None  # type: ignore[assignment]
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    raise TypeError(f"{name} must be a numpy array or a torch tensor, got {type(value).__name__}")


def images(
    x: Any,
    *,
    input_shape: Sequence[int] | None,
    clip_values: Any = None,
    name: str = "x",
) -> np.ndarray:
    """Check a batch of inputs ``(N, *input_shape)`` and return it as a numpy array (dtype kept).

    :raises TypeError: not an array/tensor, or not float32/float64 (an integer image would
        silently truncate every perturbation; convert it, e.g. ``x.astype(np.float32) / 255``).
    :raises ValueError: wrong shape or channels, empty, NaN/inf, values outside ``clip_values``.
    """
    array = _as_array(x, name)
    if array.dtype.type not in FLOAT_DTYPES:
        hint = " (integer images: convert to float in the clip_values range, e.g. x.astype(np.float32) / 255)" if np.issubdtype(array.dtype, np.integer) else ""
        raise TypeError(f"{name} must hold float32 or float64 values, got dtype {array.dtype}{hint}")
    if input_shape is not None:
        shape = tuple(int(d) for d in input_shape)
        if array.ndim != len(shape) + 1 or tuple(array.shape[1:]) != shape:
            detail = ""
            if array.ndim == len(shape) + 1 and len(shape) == 3 and array.shape[2:] == shape[1:]:
                detail = f" ({array.shape[1]} channels instead of {shape[0]})"
            elif array.ndim == len(shape) + 1 and len(shape) == 3 and array.shape[-1] == shape[0] and array.shape[1:3] == shape[1:]:
                detail = " (channels last? art-ext expects (N, C, H, W))"
            raise ValueError(
                f"{name} has shape {array.shape}; expected (N, {', '.join(map(str, shape))}) for the "
                f"classifier's input_shape {shape}{detail}"
            )
    if array.ndim == 0 or len(array) == 0:
        raise ValueError(f"{name} is empty (shape {array.shape})")
    finite = np.isfinite(array)
    if not finite.all():
        bad = int((~finite).sum())
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(f"{name} contains {bad} NaN or inf values (first at index {first})")
    bounds = clip_bounds(clip_values, input_shape)
    if bounds is not None:
        low, high = bounds
        tol = RANGE_TOLERANCE * float(np.max(high - low))
        if np.any(array < low - tol) or np.any(array > high + tol):
            raise ValueError(
                f"{name} has values in [{float(array.min()):.4g}, {float(array.max()):.4g}], outside the "
                f"classifier's clip_values {_range_text(bounds)}"
            )
    return array


def class_indices(y: Any, *, nb_classes: int, n: int | None = None, name: str = "y") -> np.ndarray:
    """Labels as int64 class indices ``(N,)``, from indices or one-hot rows.

    Index labels must be integers (integral floats like ``3.0`` are accepted) in
    ``[0, nb_classes)``; 2-D labels must be exactly one-hot of width ``nb_classes`` (soft labels
    and probabilities are refused: art-ext would otherwise have to guess with an argmax).
    """
    array = _as_array(np.asarray(y) if isinstance(y, (list, tuple)) else y, name)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must hold numeric class labels, got dtype {array.dtype}")
    if n is not None and (array.ndim == 0 or len(array) != n):
        raise ValueError(f"{name} has {0 if array.ndim == 0 else len(array)} labels for {n} inputs (shape {array.shape})")
    if array.ndim == 2:
        if array.shape[1] != nb_classes:
            raise ValueError(f"{name}: one-hot labels have width {array.shape[1]}; expected nb_classes = {nb_classes}")
        if not np.isfinite(array).all() or not np.isin(array, (0, 1)).all() or np.any(array.sum(axis=1) != 1):
            rows = np.nonzero(~(np.isin(array, (0, 1)).all(axis=1) & (array.sum(axis=1) == 1)))[0]
            raise ValueError(
                f"{name}: 2-D labels must be one-hot (a single 1 per row); row {int(rows[0])} is "
                f"{_shown(array[rows[0]].tolist())} (soft labels are not supported)"
            )
        return np.argmax(array, axis=1).astype(np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} has shape {array.shape}; expected (N,) class indices or (N, {nb_classes}) one-hot")
    if not np.issubdtype(array.dtype, np.integer):
        integral = np.isfinite(array) & (array == np.round(array))
        if not integral.all():
            first = int(np.nonzero(~integral)[0][0])
            raise ValueError(f"{name} must hold integer class indices; {name}[{first}] = {_shown(array[first].item())}")
    if len(array) and (array.min() < 0 or array.max() >= nb_classes):
        raise ValueError(
            f"{name} has labels in [{int(array.min())}, {int(array.max())}]; expected 0 <= label < nb_classes = {nb_classes}"
        )
    return array.astype(np.int64)


# --------------------------------------------------------------------------- models (duck-typed: no torch import)


def model_weights(module: Any, name: str = "model", *, trainable: bool = False) -> None:
    """Raise ``ValueError`` unless ``module``'s parameters hold float32 values (not ``meta``
    placeholders, not float16/bfloat16/float64) and, with ``trainable``, at least one is trained.

    art-ext runs models in float32 and gets mixed precision from autocast (the policy), never from
    the weights; a model loaded with ``device="meta"`` has shapes but no values.
    """
    named = list(module.named_parameters())
    meta = [key for key, p in named if getattr(p, "is_meta", False)]
    if meta:
        raise ValueError(f"{name} has parameters on the 'meta' device (first: {meta[0]}): they hold no values; "
                         "materialise them (to_empty() and load_state_dict) first")
    other = sorted({str(p.dtype).replace("torch.", "") for _, p in named
                    if p.is_floating_point() and str(p.dtype) != "torch.float32"})
    if other:
        raise ValueError(f"{name} holds {', '.join(other)} parameters; art-ext runs models in float32 (mixed "
                         "precision is an autocast policy, not the weights): convert it with model.float()")
    if trainable and not any(p.requires_grad for _, p in named):
        what = "has no parameters" if not named else "has every parameter frozen (requires_grad=False)"
        raise ValueError(f"{name} {what}: training would change nothing")


def logits(output: Any, name: str = "model output") -> None:
    """Raise ``TypeError`` unless ``output`` is a 2-D tensor of logits ``(batch, nb_classes)``."""
    if not (hasattr(output, "ndim") and hasattr(output, "shape")):
        kind = type(output).__name__
        hint = " (take the logits out in a wrapper module, e.g. outputs.logits or outputs[0])" \
            if isinstance(output, (tuple, list, dict)) or hasattr(output, "logits") else ""
        raise TypeError(f"{name} must be a tensor of logits (batch, nb_classes), got a {kind}{hint}")
    if output.ndim != 2:
        raise TypeError(f"{name} must be logits of shape (batch, nb_classes), got shape {tuple(output.shape)}")


def channels_first(estimator: Any, who: str) -> None:
    """Raise ``ValueError`` unless ``estimator`` takes ``(C, H, W)`` images: ``who`` builds networks
    whose first axis is the channel (ART's ``channels_first=True``)."""
    if getattr(estimator, "channels_first", True) is False:
        shape = tuple(getattr(estimator, "input_shape", ()))
        raise ValueError(
            f"classifier: {who} needs (C, H, W) images, but this classifier has channels_first=False "
            f"(input_shape {shape}); build it with channels_first=True on NCHW data, e.g. x.transpose(0, 3, 1, 2)"
        )


def first_line(error: BaseException) -> str:
    """The first line of an error's message (``KeyError`` unquoted), or its type's name: how an
    error from deep inside a library is quoted in one of art-ext's one-line errors."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def same_length(first: Any, second: Any, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise ``ValueError`` unless both have the same length."""
    if len(first) != len(second):
        raise ValueError(f"{names[0]} and {names[1]} have different lengths: {len(first)} and {len(second)}")
