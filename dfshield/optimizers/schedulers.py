"""Learning-rate schedulers, registered as ``cosine``, ``step`` and ``none``.

Each is a ``torch.optim.lr_scheduler.LRScheduler`` whose learning rate is a closed-form function
of the number of ``step()`` calls t (``last_epoch`` in torch's naming), so ``state_dict()`` /
``load_state_dict()``, ``get_last_lr()`` and resuming are torch's. ``interval`` says when the
trainer calls ``step()``: ``"epoch"`` (after each epoch, the default) or ``"step"`` (after each
optimizer step); every count below (``warmup``, ``step_size``) is in that unit.

``epochs`` and ``steps_per_epoch`` come from the run (``build_scheduler`` fills them in); they are
not config keys.
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

    With T = ``epochs`` (``interval: epoch``) or ``epochs * steps_per_epoch`` (``interval: step``)
    and W = ``warmup``, the learning rate after t calls of ``step()`` is, for each param group
    with base learning rate ``base``:

    * t < W:       base · (t + 1) / (W + 1)                  (linear warmup, never 0)
    * W <= t <= T: min_lr + ½·(base − min_lr)·(1 + cos(π·(t − W)/(T − W)))
    * t > T:       min_lr                                    (it never goes back up)

    so with no warmup the first epoch runs at ``base``, the rate never increases after warmup and
    it reaches ``min_lr`` after the last ``step()`` call. This follows the ``spcup`` paper
    (docs/methods.md §8.3, §1: cosine annealing over the whole run); the authors' code uses
    T_max = epochs/4, so its rate goes down and up again twice — deliberately not reproduced.

    Args:
        optimizer: the optimizer (SAM included) whose learning rates are set.
        epochs: the run's number of epochs (filled in by ``build_scheduler``).
        steps_per_epoch: optimizer steps per epoch (filled in; needed for ``interval: step``).
        interval: ``epoch`` or ``step``: when the trainer calls ``step()``.
        min_lr: the final learning rate, >= 0 and <= every group's base learning rate.
        warmup: number of warmup epochs or steps (in units of ``interval``), >= 0 and < T.
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

    def get_lr(self) -> list[float]:
        return [
            cosine_lr(float(base), self.last_epoch, self.total, self.min_lr, self.warmup)
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


@SCHEDULER.register_module(module_name="step")
class StepScheduler(LRScheduler):
    """Multiply the learning rate by gamma every step_size epochs (or steps); torch's StepLR rule.

    The learning rate after t calls of ``step()`` is base · gamma^⌊t / step_size⌋.

    Args:
        optimizer: the optimizer (SAM included) whose learning rates are set.
        step_size: epochs (or steps, with ``interval: step``) between two drops; an integer >= 1.
        gamma: the factor, > 0 (default 0.1).
        interval: ``epoch`` or ``step``: when the trainer calls ``step()``.
    """

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

    def get_lr(self) -> list[float]:
        return [
            float(base) * self.gamma ** (self.last_epoch // self.step_size)
            for base in self.base_lrs
        ]

    _get_closed_form_lr = get_lr


@SCHEDULER.register_module(module_name="none")
class ConstantScheduler(LRScheduler):
    """Constant learning rate (no schedule).

    Args:
        optimizer: the optimizer whose learning rates are kept.
        interval: ``epoch`` or ``step``; only says when the trainer calls the no-op ``step()``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, interval: str = "epoch"):
        self.interval = validation.choice("scheduler 'none'", "interval", interval, INTERVALS)
        super().__init__(optimizer)

    def get_lr(self) -> list[float]:
        return [float(base) for base in self.base_lrs]

    _get_closed_form_lr = get_lr


def cosine_lr(base: float, t: int, total: int, min_lr: float = 0.0, warmup: int = 0) -> float:
    """The ``cosine`` scheduler's learning rate after ``t`` of ``total`` steps (see the class)."""
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
