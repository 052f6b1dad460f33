"""PyTorch's own optimizers, registered as ``adamw``, ``adam`` and ``sgd`` (docs/methods.md §8.2).

Each is a factory whose keyword arguments are the config schema; it checks every value and
returns the plain ``torch.optim`` object with torch's defaults, run ``fused`` where possible
(:func:`implementation`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

from dfshield import validation
from dfshield.errors import ConfigError
from dfshield.optimizers import _checks
from dfshield.registry import OPTIMIZER

#: device types where torch has fused optimizer kernels that ``implementation`` uses
FUSED_DEVICES = ("cpu", "cuda")


@OPTIMIZER.register_module(module_name="adamw")
def adamw(
    params: Any,
    lr: float = 1e-3,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
) -> torch.optim.AdamW:
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, ICLR 2019)."""
    owner = "optimizer 'adamw'"
    options = _adam_options(owner, lr, betas, eps, weight_decay, amsgrad)
    params, fast = implementation(params)
    return torch.optim.AdamW(params, **options, **fast)


@OPTIMIZER.register_module(module_name="adam")
def adam(
    params: Any,
    lr: float = 1e-3,
    betas: Sequence[float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> torch.optim.Adam:
    """Adam (Kingma & Ba, ICLR 2015); weight decay is an L2 term added to the gradient."""
    owner = "optimizer 'adam'"
    options = _adam_options(owner, lr, betas, eps, weight_decay, amsgrad)
    params, fast = implementation(params)
    return torch.optim.Adam(params, **options, **fast)


@OPTIMIZER.register_module(module_name="sgd")
def sgd(
    params: Any,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
) -> torch.optim.SGD:
    """Stochastic gradient descent with optional (Nesterov) momentum; torch.optim.SGD."""
    owner = "optimizer 'sgd'"
    options: dict[str, Any] = dict(
        lr=_checks.learning_rate(owner, "lr", lr),
        momentum=validation.number(owner, "momentum", momentum, low=0.0),
        dampening=validation.number(owner, "dampening", dampening, low=0.0),
        weight_decay=validation.number(owner, "weight_decay", weight_decay, low=0.0),
        nesterov=validation.boolean(owner, "nesterov", nesterov),
    )
    if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
        raise ConfigError(
            f"{owner}: 'nesterov: true' needs 'momentum' > 0 and 'dampening' 0, got "
            f"momentum={momentum!r}, dampening={dampening!r}; set momentum "
            "(e.g. 0.9) or turn nesterov off"
        )
    params, fast = implementation(params)
    return torch.optim.SGD(params, **options, **fast)


def implementation(params: Any) -> tuple[Any, dict[str, Any]]:
    """``params`` (as a list) and ``{"fused": True}`` when every parameter is a float tensor on one
    CPU or CUDA device, else ``{}`` (torch's choice). Fused is one kernel per update and never reads
    step counters on the host; it matches torch's default form within rounding (methods.md §8.2)."""
    if isinstance(params, torch.Tensor) or not isinstance(params, Iterable):
        return params, {}  # torch's own error names the problem
    params = [_listed(item) for item in params]
    tensors = [
        p
        for item in params
        for p in (item.get("params", []) if isinstance(item, dict) else [item])
        if isinstance(p, torch.Tensor)
    ]
    devices = {p.device for p in tensors}
    if (
        len(devices) == 1
        and next(iter(devices)).type in FUSED_DEVICES
        and all(p.is_floating_point() for p in tensors)
    ):
        return params, {"fused": True}
    return params, {}


def _listed(item: Any) -> Any:
    """A param group's ``params`` as a list, so that scanning them does not use them up."""
    if not isinstance(item, dict) or not isinstance(item.get("params"), Iterable):
        return item
    params = item["params"]
    return {**item, "params": [params] if isinstance(params, torch.Tensor) else list(params)}


def _adam_options(
    owner: str, lr: Any, betas: Any, eps: Any, weight_decay: Any, amsgrad: Any
) -> dict[str, Any]:
    return dict(
        lr=_checks.learning_rate(owner, "lr", lr),
        betas=_checks.betas(owner, "betas", betas),
        eps=validation.number(owner, "eps", eps, low=0.0),
        weight_decay=validation.number(owner, "weight_decay", weight_decay, low=0.0),
        amsgrad=validation.boolean(owner, "amsgrad", amsgrad),
    )
