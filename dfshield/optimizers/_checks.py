"""Value checks shared by the optimizer and scheduler entries (functions only, no classes).

Every check raises :class:`dfshield.errors.ConfigError` with a message that names the entry, the
key, the value it got and the range it accepts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError

_YAML_HINT = " (YAML reads a bare exponent such as 1e-5 as text; write 1.0e-5 or 0.00001)"


def number(
    owner: str,
    key: str,
    value: Any,
    *,
    low: float | None = None,
    low_open: bool = False,
    high: float | None = None,
    high_open: bool = False,
) -> float:
    """``value`` as a finite float within the given bounds, or a ConfigError naming ``key``.

    A string that spells a number (YAML's ``lr: 1e-5`` arrives as the text ``"1e-5"``) is
    accepted; any other string, a bool or ``None`` is an error.
    """
    wanted = "a number" + _range_text(low, low_open, high, high_open)
    converted = None
    if isinstance(value, bool) or value is None:
        converted = None
    elif isinstance(value, (int, float)):
        converted = float(value)
    elif isinstance(value, str):
        try:
            converted = float(value.strip())
        except ValueError:
            converted = None
    elif isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype == torch.bool:
        converted = float(value.item())
    if converted is None or not math.isfinite(converted):
        hint = _YAML_HINT if isinstance(value, str) else ""
        raise ConfigError(
            f"{owner}: '{key}' must be {wanted}, got {value!r} ({type(value).__name__}).{hint}"
        )
    too_low = low is not None and (converted <= low if low_open else converted < low)
    too_high = high is not None and (converted >= high if high_open else converted > high)
    if too_low or too_high:
        raise ConfigError(f"{owner}: '{key}' must be {wanted}, got {value!r}")
    return converted


def integer(owner: str, key: str, value: Any, *, low: int | None = None) -> int:
    """``value`` as an int (a float with no fractional part is accepted) that is ``>= low``."""
    wanted = "an integer" + (f" >= {low}" if low is not None else "")
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (isinstance(value, float) and not value.is_integer())
    ):
        raise ConfigError(
            f"{owner}: '{key}' must be {wanted}, got {value!r} ({type(value).__name__})"
        )
    converted = int(value)
    if low is not None and converted < low:
        raise ConfigError(f"{owner}: '{key}' must be {wanted}, got {value!r}")
    return converted


def boolean(owner: str, key: str, value: Any) -> bool:
    """``value`` if it is a bool; YAML's true/false arrive as bools, anything else is an error."""
    if not isinstance(value, bool):
        raise ConfigError(
            f"{owner}: '{key}' must be true or false, got {value!r} ({type(value).__name__})"
        )
    return value


def betas(owner: str, key: str, value: Any) -> tuple[float, float]:
    """Two numbers, each in [0, 1) (Adam's moment decay rates)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{owner}: '{key}' must be a list of two numbers in [0, 1), "
            f"e.g. [0.9, 0.999]; got {value!r}"
        )
    items = list(value)
    if len(items) != 2:
        raise ConfigError(
            f"{owner}: '{key}' must be a list of two numbers in [0, 1), "
            f"e.g. [0.9, 0.999]; got {len(items)} values: {value!r}"
        )
    return (
        number(owner, f"{key}[0]", items[0], low=0.0, high=1.0, high_open=True),
        number(owner, f"{key}[1]", items[1], low=0.0, high=1.0, high_open=True),
    )


def choice(owner: str, key: str, value: Any, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``; otherwise an error with a suggestion."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(
            f"{owner}: '{key}' must be one of {', '.join(repr(c) for c in choices)}, "
            f"got {value!r}.{did_you_mean(str(value), choices)}"
        )
    return value


def reject_reserved(owner: str, cfg: dict, reserved: dict[str, str]) -> None:
    """Error on config keys that the builder fills in itself (``reserved`` maps key -> source)."""
    for key, source in reserved.items():
        if key in cfg:
            raise ConfigError(
                f"{owner}: '{key}' cannot be set in the config; it is {source}. "
                f"Remove the '{key}' key"
            )


def as_config(cfg: Any, what: str) -> dict:
    """A copy of an optimizer/scheduler config; a bare string is shorthand for ``{name: ...}``."""
    if isinstance(cfg, str):
        return {"name": cfg}
    if not isinstance(cfg, dict):
        raise ConfigError(
            f"a {what} config must be a mapping such as {{name: ..., lr: ...}} "
            f"or a name, got {cfg!r} ({type(cfg).__name__})"
        )
    return dict(cfg)


def trainable(params: Any, owner: str) -> tuple[list, nn.Module | None]:
    """Split ``params`` into what a torch optimizer takes and the module it came from (if any).

    An ``nn.Module`` gives its parameters with ``requires_grad`` set (frozen ones are left out);
    anything else (tensors, ``(name, tensor)`` pairs or param-group dicts) is passed on as a list.
    """
    if isinstance(params, nn.Module):
        found = [p for p in params.parameters() if p.requires_grad]
        if not found:
            raise ConfigError(
                f"{owner}: the module {type(params).__name__} has no trainable "
                "parameters (all have requires_grad=False); unfreeze the layers "
                "that should be trained"
            )
        return found, params
    if isinstance(params, torch.Tensor):
        return [params], None
    if params is None or isinstance(params, (str, bytes, dict)) or not isinstance(params, Iterable):
        raise ConfigError(
            f"{owner}: params must be an nn.Module, an iterable of tensors or a "
            f"list of param-group dicts, got {type(params).__name__}"
        )
    found = list(params)
    if not found:
        raise ConfigError(
            f"{owner}: got an empty parameter list; pass the model (an nn.Module) "
            "or at least one tensor to optimize"
        )
    return found, None


def _range_text(low: float | None, low_open: bool, high: float | None, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {_fmt(low)}"
    if high is not None:
        return f" {'<' if high_open else '<='} {_fmt(high)}"
    return ""


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
