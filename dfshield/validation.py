"""Checks of single config values, shared by the losses, the optimizers and the detectors.

Every function takes ``(owner, key, value)``: ``owner`` names the entry as a user sees it (``"loss
'cvar'"``; ``""`` for a dataclass section, whose key is then the dotted path). A good value comes
back converted; a bad one raises a ConfigError naming owner, key, value and range.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

import torch

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError

__all__ = ["boolean", "choice", "integer", "number", "probability"]


def number(
    owner: str,
    key: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the bounds (inclusive unless ``*_open``). Numbers (not
    bools), one-element tensors and numeric strings (YAML 1.1 reads 1e-5 as text) are accepted."""
    wanted = "a number" + _range_text(low, high, low_open, high_open)
    return _in_range(owner, key, value, wanted, low, high, low_open, high_open)


def probability(owner: str, key: str, value: Any) -> float:
    """``value`` as a float in [0, 1] (accepted as :func:`number` accepts it)."""
    return _in_range(owner, key, value, "a probability in [0, 1]", 0.0, 1.0, False, False)


def _in_range(
    owner: str,
    key: str,
    value: Any,
    wanted: str,
    low: float | None,
    high: float | None,
    low_open: bool,
    high_open: bool,
) -> float:
    converted = _as_float(value)
    if converted is None or not math.isfinite(converted):
        raise ConfigError(
            f"{_subject(owner, key)} must be {wanted}, got {value!r} ({type(value).__name__})"
        )
    too_low = low is not None and (converted <= low if low_open else converted < low)
    too_high = high is not None and (converted >= high if high_open else converted > high)
    if too_low or too_high:
        raise ConfigError(f"{_subject(owner, key)} must be {wanted}, got {value!r}")
    return converted


def integer(owner: str, key: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int ``>= low``; a float with no fractional part (``3.0``) is accepted."""
    wanted = "an integer" + ("" if low is None else f" >= {low}")
    if (
        isinstance(value, bool)
        or not isinstance(value, (Integral, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ConfigError(
            f"{_subject(owner, key)} must be {wanted}, got {value!r} ({type(value).__name__})"
        )
    converted = int(value)
    if low is not None and converted < low:
        raise ConfigError(f"{_subject(owner, key)} must be {wanted}, got {value!r}")
    return converted


def boolean(owner: str, key: str, value: Any) -> bool:
    """``value`` if it is a bool; YAML's true/false arrive as bools, anything else is an error."""
    if not isinstance(value, bool):
        raise ConfigError(
            f"{_subject(owner, key)} must be true or false, got {value!r} ({type(value).__name__})"
        )
    return value


def choice(owner: str, key: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise an error listing them, with a suggestion."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"{_subject(owner, key)} must be one of {', '.join(repr(c) for c in choices)}, "
            f"got {value!r}.{did_you_mean(str(value), choices)}"
        )
    return value


def _subject(owner: str, key: str) -> str:
    """What a message names: ``loss 'cvar': 'alpha'``, or the dotted path alone without owner."""
    return f"{owner}: '{key}'" if owner else key


def _range_text(
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> str:
    """The bounds as words: ``" in [0, 1)"``, ``" >= 0, i.e. in [0, inf)"`` or ``""``."""
    left = "(-inf" if low is None else f"{'(' if low_open else '['}{low:g}"
    right = "inf)" if high is None else f"{high:g}{')' if high_open else ']'}"
    if low is not None and high is not None:
        return f" in {left}, {right}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}, i.e. in {left}, {right}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}, i.e. in {left}, {right}"
    return ""


def _as_float(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        return float(value.item())
    return None
