"""PyTorch's own optimizers, registered as ``adamw``, ``adam`` and ``sgd``.

Each entry is a thin factory function: its keyword arguments are the config schema (an unknown key
is an error that lists them), it checks every value and returns the plain ``torch.optim`` object,
so a run built from a config is exactly torch's optimizer. Defaults are torch's, except the
implementation (:func:`implementation`): ``fused`` when every parameter is on one CPU or CUDA
device, the same update in one kernel launch instead of a few per parameter (on one CPU core the
spcup head's AdamW step takes 3.6 ms fused against 10–15 ms in torch's default or foreach form).
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
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, ICLR 2019); torch.optim.AdamW.

    Args:
        params: tensors or param-group dicts (``build_optimizer`` fills this in).
        lr: learning rate, >= 0.
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: term added to the denominator, >= 0.
        weight_decay: decoupled weight decay, >= 0 (``spcup`` uses 6e-5).
        amsgrad: use the AMSGrad variant.
    """
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
    """Adam (Kingma & Ba, ICLR 2015) with L2 weight decay added to the gradient; torch.optim.Adam.

    Args:
        params: tensors or param-group dicts (``build_optimizer`` fills this in).
        lr: learning rate, >= 0.
        betas: decay rates of the first and second moment estimates, each in [0, 1).
        eps: term added to the denominator, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        amsgrad: use the AMSGrad variant.
    """
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
    """Stochastic gradient descent with optional (Nesterov) momentum; torch.optim.SGD.

    Args:
        params: tensors or param-group dicts (``build_optimizer`` fills this in).
        lr: learning rate, >= 0.
        momentum: momentum factor, >= 0.
        dampening: dampening of the momentum, >= 0.
        weight_decay: L2 penalty added to the gradient, >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening 0).
    """
    owner = "optimizer 'sgd'"
    options = dict(
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


def implementation(params: Any) -> tuple[Any, dict[str, bool]]:
    """``params`` (an iterable read once becomes a list) and the fastest update for them:
    ``{"fused": True}`` when every parameter is a floating-point tensor on one CPU or CUDA
    device (one kernel for the whole update, the step counters kept on that device, so a step
    never reads them on the host), else ``{}`` (torch's choice). The arithmetic is the same
    update, evaluated in another order: measured on the CPU in float32 (torch 2.14, weights of
    order 1, lr 1e-3), SGD with momentum is bit for bit torch's for-loop form; Adam and AdamW
    differ from it within rounding, at most 7.5e-9 after one step and 2.4e-7 (two float32 ulps
    at 1) after 50. Adam divides by √v, so where a gradient is itself rounding noise such
    differences can grow to steps of size lr; train in float64 to compare runs exactly.
    """
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
