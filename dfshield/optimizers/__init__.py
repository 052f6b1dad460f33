"""Optimizers (``adamw``, ``adam``, ``sgd``, ``sam``) and schedulers (``cosine``, ``step``,
``none``), registered on import and built by ``build_optimizer`` / ``build_scheduler``
(docs/methods.md §8).
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
