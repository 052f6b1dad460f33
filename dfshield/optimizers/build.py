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
    """Build the optimizer named by ``cfg["name"]`` (or a bare name) with the other keys as options.
    ``params`` is an ``nn.Module`` (its trainable parameters; SAM also gets the module, to keep its
    BatchNorm statistics from updating twice) or tensors / param-group dicts."""
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
    """Build the scheduler named by ``cfg["name"]`` (``None``: constant) for a run of ``epochs``.
    The result's ``interval`` says whether to call ``step()`` after each epoch or each optimizer
    step; ``interval: step`` needs ``steps_per_epoch``."""
    cfg = _checks.as_config("scheduler", {"name": "none"} if cfg is None else cfg)
    _checks.reject_reserved("the scheduler config", cfg, SCHEDULER_BUILD_TIME)
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise ConfigError(
            f"build_scheduler needs a torch.optim.Optimizer, got {type(optimizer).__name__}"
        )
    return SCHEDULER.build(cfg, optimizer=optimizer, epochs=epochs, steps_per_epoch=steps_per_epoch)
