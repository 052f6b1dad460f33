"""Optimizers (``adamw``, ``adam``, ``sgd``, ``sam``) and learning-rate schedulers (``cosine``,
``step``, ``none``); importing this package registers them in ``dfshield.registry.OPTIMIZER`` and
``dfshield.registry.SCHEDULER``.

    optimizer = build_optimizer(
        {"name": "sam", "rho": 0.1, "base": {"name": "adamw", "lr": 1e-5, "weight_decay": 6e-5}},
        model)
    scheduler = build_scheduler({"name": "cosine"}, optimizer, epochs=100,
                                steps_per_epoch=len(loader))

Equations and constants: docs/methods.md §8 (SAM and ASAM §8.1, the torch optimizers §8.2, the
schedulers §8.3); see :class:`dfshield.optimizers.sam.SAM`.
"""

from dfshield.optimizers import sam, schedulers, torch_optimizers  # noqa: F401  (registers entries)
from dfshield.optimizers.build import build_optimizer, build_scheduler
from dfshield.optimizers.sam import SAM
from dfshield.optimizers.schedulers import ConstantScheduler, CosineScheduler, StepScheduler

__all__ = [
    "build_optimizer",
    "build_scheduler",
    "SAM",
    "CosineScheduler",
    "StepScheduler",
    "ConstantScheduler",
]
