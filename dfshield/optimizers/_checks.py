"""Config checks shared by the optimizer and scheduler entries (functions only, no classes).

Generic values go through :mod:`dfshield.validation`; these are particular to optimizers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from dfshield import validation
from dfshield.errors import ConfigError

logger = logging.getLogger(__name__)

#: A learning rate above this is almost surely a typo (``1e30`` for ``1e-3``, a lost minus sign):
#: it is accepted, since some schedules start high, but with a warning naming the key.
MAX_USUAL_LR = 10.0


def learning_rate(owner: str, key: str, value: Any) -> float:
    """``value`` as a learning rate >= 0; above :data:`MAX_USUAL_LR` it trains with a warning."""
    lr = validation.number(owner, key, value, low=0.0)
    if lr > MAX_USUAL_LR:
        logger.warning(
            "%s: '%s' is %g, far above any usual learning rate (1e-6 to 1): training will most "
            "likely diverge. Check the value (a lost minus sign in the exponent?)",
            owner,
            key,
            lr,
        )
    return lr


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
        validation.number(owner, f"{key}[0]", items[0], low=0.0, high=1.0, high_open=True),
        validation.number(owner, f"{key}[1]", items[1], low=0.0, high=1.0, high_open=True),
    )


def reject_reserved(owner: str, cfg: dict, reserved: dict[str, str]) -> None:
    """Error on config keys that the builder fills in itself (``reserved`` maps key -> source)."""
    for key, source in reserved.items():
        if key in cfg:
            raise ConfigError(
                f"{owner}: '{key}' cannot be set in the config; it is {source}. "
                f"Remove the '{key}' key"
            )


def as_config(what: str, cfg: Any) -> dict:
    """A copy of an optimizer/scheduler config; a bare string is shorthand for ``{name: ...}``."""
    if isinstance(cfg, str):
        return {"name": cfg}
    if not isinstance(cfg, dict):
        raise ConfigError(
            f"a {what} config must be a mapping such as {{name: ..., lr: ...}} "
            f"or a name, got {cfg!r} ({type(cfg).__name__})"
        )
    return dict(cfg)


def trainable(owner: str, params: Any) -> tuple[list, nn.Module | None]:
    """Split ``params`` into what a torch optimizer takes and the module it came from (if any). A
    module gives its parameters with ``requires_grad``; anything else is passed on as a list."""
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
