"""Optimizers (``adamw``, ``adam``, ``sgd``, ``sam``) and schedulers (``cosine``, ``step``,
``none``); importing this package registers them. Equations: docs/methods.md §8. ::

    optimizer = build_optimizer({"name": "sam", "rho": 0.1, "base": {"name": "adamw"}}, model)
    scheduler = build_scheduler({"name": "cosine"}, optimizer, epochs=100)
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
