"""Checks and small tensor helpers shared by the losses (functions: classes are registry entries).

Each takes the loss's ``owner`` text first (``"loss 'vs'"``). Build-time problems raise
``ConfigError``; call-time ones (shapes, labels, non-finite logits) ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from numbers import Integral
from typing import Any

import torch

from dfshield import validation
from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError

CLASSES = ("fake", "real")
REDUCTIONS = ("mean", "none")

#: set inside :func:`deferred_value_checks`: the value checks of :func:`inputs` are skipped
_VALUES_DEFERRED = contextvars.ContextVar("dfshield_loss_values_deferred", default=False)


# -- build time ------------------------------------------------------------------------------
def reduction(owner: str, value: Any) -> str:
    """Validate a per-sample loss's ``reduction`` (``mean`` or ``none``)."""
    return validation.choice(owner, "reduction", value, REDUCTIONS)


def per_class(owner: str, key: str, value: Any, **limits: Any) -> dict[str, float]:
    """A ``{fake: x, real: y}`` mapping with both classes and nothing else, values in range."""
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{owner}: '{key}' must be a mapping by class name, "
            f"{{fake: ..., real: ...}}, got {value!r}"
        )
    extra = sorted(str(name) for name in value if name not in CLASSES)
    missing = [name for name in CLASSES if name not in value]
    if extra or missing:
        problems = []
        if missing:
            problems.append(f"missing {', '.join(repr(m) for m in missing)}")
        if extra:
            hints = "".join(did_you_mean(name, CLASSES) for name in extra)
            problems.append(
                f"unknown class name(s) {', '.join(repr(e) for e in extra)}"
                + (f" ({hints.strip()})" if hints else "")
            )
        raise ConfigError(
            f"{owner}: '{key}' must give exactly the classes 'fake' and "
            f"'real' (labels: fake = 1, real = 0): {'; '.join(problems)}"
        )
    return {
        name: validation.number(owner, f"{key}.{name}", value[name], **limits) for name in CLASSES
    }


def class_counts(owner: str, value: Any) -> dict[str, int]:
    """Training class counts ``{real: n_real, fake: n_fake}`` as non-negative integers."""
    if not isinstance(value, Mapping) or set(value) != set(CLASSES):
        raise ConfigError(
            f"{owner}: 'class_counts' must be a mapping "
            f"{{real: n_real, fake: n_fake}} of training-set sample counts, "
            f"got {value!r}"
        )
    counts = {}
    for name in CLASSES:
        count = value[name]
        if isinstance(count, bool) or not isinstance(count, Integral) or count < 0:
            raise ConfigError(
                f"{owner}: 'class_counts.{name}' must be a non-negative "
                f"integer (a sample count), got {count!r}"
            )
        counts[name] = int(count)
    return counts


def sub_config(owner: str, key: str, value: Any) -> dict:
    """A copy of a nested loss config (a mapping with a string ``name``)."""
    if not isinstance(value, Mapping) or not isinstance(value.get("name"), str):
        raise ConfigError(
            f"{owner}: '{key}' must be a loss config mapping with a "
            f"'name', e.g. {{name: bce}}; got {value!r}"
        )
    return dict(value)


# -- call time -------------------------------------------------------------------------------
def fake_logit(cls: torch.Tensor) -> torch.Tensor:
    """The fake logit of a detector's ``cls``: ``(B,)`` as it is, DeepfakeBench's ``(B, 2)`` as
    ``cls[:, 1] - cls[:, 0]`` (its sigmoid is their ``softmax(cls)[:, 1]``)."""
    if cls.dim() == 2 and cls.shape[-1] == 2:
        return cls[:, 1] - cls[:, 0]
    return cls


def inputs(owner: str, logits: Any, labels: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``(logits, labels)``; return float logits and labels in the logits' dtype. Labels
    are bool, integer or float in {0, 1}, of the logits' shape; half precision is computed in
    float32. The value checks cost one host sync, skipped inside :func:`deferred_value_checks`."""
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(
            f"{owner}: expected tensors (logits, labels), got "
            f"({type(logits).__name__}, {type(labels).__name__})"
        )
    if not logits.is_floating_point():
        raise TypeError(f"{owner}: logits must be a floating-point tensor, got {logits.dtype}")
    if logits.dim() == labels.dim() + 1:
        logits = fake_logit(logits)
    if logits.shape != labels.shape:
        hint = (
            " (squeeze the detector output with logits.squeeze(-1))"
            if logits.dim() == labels.dim() + 1 and logits.shape[-1] == 1
            else ""
        )
        raise ValueError(
            f"{owner}: logits and labels must have the same shape [B], got "
            f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)}{hint}"
        )
    if logits.numel() == 0:
        raise ValueError(f"{owner}: empty batch (0 samples); skip empty batches")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    labels = labels.to(device=logits.device)
    if not _VALUES_DEFERRED.get():
        _check_values(owner, logits, labels)
    return logits, labels.to(dtype=logits.dtype)


@contextlib.contextmanager
def deferred_value_checks() -> Iterator[None]:
    """Losses called inside skip the checks of input *values* (finite logits, labels in {0, 1}).
    Those checks read the device on the host, stalling a GPU step. The trainer takes them over: it
    checks once per epoch that every loss was finite, and its labels are 0/1 by construction."""
    token = _VALUES_DEFERRED.set(True)
    try:
        yield
    finally:
        _VALUES_DEFERRED.reset(token)


def _check_values(owner: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
    """Raise ``ValueError`` for non-finite logits or labels outside {0, 1} (one host sync)."""
    valid_labels = (labels == 0) | (labels == 1)
    if not bool(torch.isfinite(logits).all() & valid_labels.all()):
        finite = torch.isfinite(logits)
        if not bool(finite.all()):
            n_nan = int(torch.isnan(logits).sum())
            n_inf = int((~finite).sum()) - n_nan
            raise ValueError(
                f"{owner}: logits contain {n_nan} NaN and {n_inf} infinite "
                f"value(s) of {logits.numel()}; the model has diverged or its input "
                f"is broken (lower the learning rate, check the features)"
            )
        bad = labels[~valid_labels].flatten()[:5].tolist()
        raise ValueError(f"{owner}: labels must be 0 (real) or 1 (fake); got values such as {bad}")


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)), exact and stable for any x, with gradient sigmoid(x) everywhere."""
    return torch.logaddexp(x, torch.zeros_like(x))


def reduce(losses: torch.Tensor, how: str) -> torch.Tensor:
    return losses.mean() if how == "mean" else losses


def by_class(labels: torch.Tensor, fake: float, real: float) -> torch.Tensor:
    """A tensor like ``labels`` holding ``fake`` where the label is 1 and ``real`` where it is 0."""
    return torch.full_like(labels, real).masked_fill(labels == 1, fake)
