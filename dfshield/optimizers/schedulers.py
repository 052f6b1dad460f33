"""Learning-rate schedulers, registered as ``cosine``, ``step`` and ``none`` (docs/methods.md §8.3).

Each is a torch ``LRScheduler`` whose rate is a closed-form function of the ``step()`` count, so
state dicts and resuming are torch's. ``interval`` says when the trainer calls ``step()``:
``epoch`` (default) or ``step``; ``warmup`` and ``step_size`` count in that unit. ``epochs`` and
``steps_per_epoch`` are filled in by ``build_scheduler``, not config keys.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from dfshield import validation
from dfshield.errors import ConfigError
from dfshield.registry import SCHEDULER

INTERVALS = ("epoch", "step")


@SCHEDULER.register_module(module_name="cosine")
class CosineScheduler(LRScheduler):
    """One half-cosine decay from the base LR to min_lr over the whole run, optional linear warmup.

    Formula: docs/methods.md §8.3. The rate never rises after warm-up (unlike the SP Cup code's
    T_max = epochs/4). ``min_lr`` ≤ every group's base rate; ``warmup`` < the run's length.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        epochs: int,
        steps_per_epoch: int | None = None,
        interval: str = "epoch",
        min_lr: float = 0.0,
        warmup: int = 0,
    ):
        owner = "scheduler 'cosine'"
        self.interval = validation.choice(owner, "interval", interval, INTERVALS)
        self.total = _total(owner, epochs, steps_per_epoch, self.interval)
        self.min_lr = validation.number(owner, "min_lr", min_lr, low=0.0)
        self.warmup = validation.integer(owner, "warmup", warmup, low=0)
        if self.warmup >= self.total:
            raise ConfigError(
                f"{owner}: 'warmup' must be smaller than the run's "
                f"{self.total} {self.interval}s, got {warmup!r}"
            )
        for index, group in enumerate(optimizer.param_groups):
            base = float(group.get("initial_lr", group["lr"]))
            if self.min_lr > base:
                raise ConfigError(
                    f"{owner}: 'min_lr' must be <= every param group's learning "
                    f"rate, got min_lr={min_lr!r} > lr={base!r} (group {index})"
                )
        super().__init__(optimizer)

    def get_lr(self) -> list[float | torch.Tensor]:
        return [
            cosine_lr(float(base), self.last_epoch, self.total, self.min_lr, self.warmup)
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


@SCHEDULER.register_module(module_name="step")
class StepScheduler(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs (or steps), as torch's
    StepLR."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        step_size: int | None = None,
        gamma: float = 0.1,
        interval: str = "epoch",
    ):
        owner = "scheduler 'step'"
        self.interval = validation.choice(owner, "interval", interval, INTERVALS)
        if step_size is None:
            raise ConfigError(
                f"{owner} needs 'step_size': the number of {self.interval}s between "
                "two learning-rate drops, an integer >= 1 (e.g. step_size: 30)"
            )
        self.step_size = validation.integer(owner, "step_size", step_size, low=1)
        self.gamma = validation.number(owner, "gamma", gamma, low=0.0, low_open=True)
        super().__init__(optimizer)

    def get_lr(self) -> list[float | torch.Tensor]:
        return [
            float(base) * self.gamma ** (self.last_epoch // self.step_size)
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


@SCHEDULER.register_module(module_name="none")
class ConstantScheduler(LRScheduler):
    """Constant learning rate (no schedule)."""

    def __init__(self, optimizer: torch.optim.Optimizer, interval: str = "epoch"):
        self.interval = validation.choice("scheduler 'none'", "interval", interval, INTERVALS)
        super().__init__(optimizer)

    def get_lr(self) -> list[float | torch.Tensor]:
        return [float(base) for base in self.base_lrs]

    _get_closed_form_lr = get_lr


def cosine_lr(base: float, t: int, total: int, min_lr: float = 0.0, warmup: int = 0) -> float:
    """The ``cosine`` scheduler's learning rate after ``t`` of ``total`` steps."""
    if t < warmup:
        return base * (t + 1) / (warmup + 1)
    if t >= total:
        return min_lr
    progress = (t - warmup) / (total - warmup)
    return min_lr + 0.5 * (base - min_lr) * (1.0 + math.cos(math.pi * progress))


def _total(owner: str, epochs: Any, steps_per_epoch: Any, interval: str) -> int:
    """Length of the run in scheduler steps."""
    epochs = validation.integer(owner, "epochs", epochs, low=1)
    if interval == "epoch":
        return epochs
    if steps_per_epoch is None:
        raise ConfigError(
            f"{owner}: 'interval: step' needs the number of steps per epoch; pass "
            "steps_per_epoch to build_scheduler"
        )
    return epochs * validation.integer(owner, "steps_per_epoch", steps_per_epoch, low=1)
