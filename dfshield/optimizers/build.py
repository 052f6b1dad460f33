"""``build_optimizer`` and ``build_scheduler``: config dict in, ready object out."""

from __future__ import annotations

from typing import Any

import torch

from dfshield.errors import ConfigError
from dfshield.optimizers import _checks
from dfshield.registry import OPTIMIZER, SCHEDULER

#: What ``build_optimizer`` passes itself, so not an optimizer option (name → its origin); the
#: config checks read it too (``dfshield.config.BUILD_TIME``).
OPTIMIZER_BUILD_TIME = {
    "params": "the model's trainable parameters, passed by the trainer",
    "module": "the model, passed by the trainer",
}
#: What ``build_scheduler`` passes itself, so not a scheduler option (name → its origin).
SCHEDULER_BUILD_TIME = {
    "optimizer": "the run's optimizer, passed by the trainer",
    "epochs": "taken from train.epochs",
    "steps_per_epoch": "computed from the dataset and train.batch_size",
}


def build_optimizer(cfg: dict | str, params: Any) -> torch.optim.Optimizer:
    """Build the optimizer named by ``cfg["name"]`` with the remaining keys as its options.

    Args:
        cfg: e.g. ``{name: adamw, lr: 1.0e-5, weight_decay: 6.0e-5}`` or
            ``{name: sam, rho: 0.1, adaptive: false, base: {name: adamw, lr: 1.0e-5}}``;
            a bare name (``"sgd"``) means the entry's defaults.
        params: an ``nn.Module`` (its parameters with ``requires_grad``; SAM is also given the
            module so that it can keep its BatchNorm statistics from being updated twice), or an
            iterable of tensors or param-group dicts.

    Unknown names and keys, wrong types and out-of-range values raise ConfigError.
    """
    cfg = _checks.as_config("optimizer", cfg)
    _checks.reject_reserved("the optimizer config", cfg, OPTIMIZER_BUILD_TIME)
    params, module = _checks.trainable("build_optimizer", params)
    context = {"params": params}
    if module is not None:
        context["module"] = module
    return OPTIMIZER.build(cfg, **context)


def build_scheduler(
    cfg: dict | str | None,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    steps_per_epoch: int | None = None,
) -> Any:
    """Build the learning-rate scheduler named by ``cfg["name"]`` for a run of ``epochs`` epochs.

    The result has ``step()``, ``interval`` (``"epoch"`` or ``"step"``: call ``step()`` after each
    epoch or after each optimizer step), ``get_last_lr()``, ``state_dict()`` and
    ``load_state_dict()``. ``cfg`` ``None`` means ``{name: none}`` (constant learning rate).
    ``steps_per_epoch`` is needed for ``interval: step``.
    """
    cfg = _checks.as_config("scheduler", {"name": "none"} if cfg is None else cfg)
    _checks.reject_reserved("the scheduler config", cfg, SCHEDULER_BUILD_TIME)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(
            f"build_scheduler needs a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return SCHEDULER.build(cfg, optimizer=optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
