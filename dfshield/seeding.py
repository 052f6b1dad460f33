"""Seeding: the one rule that turns a run's seed (and an epoch) into RNG seeds. Every RNG is
reseeded at each epoch's start, so an epoch does not depend on how earlier ones ran (resume).
"""

from __future__ import annotations

import random

import numpy as np
import torch

#: Spreads epochs of one seed apart so that (seed, epoch) pairs rarely share an RNG stream.
EPOCH_STRIDE = 1009
#: The largest ``train.seed`` (and its negative the smallest): its epoch seeds still fit the
#: 64-bit integer that ``torch.manual_seed`` takes, for any number of epochs up to 10**12.
MAX_SEED = 2**48


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of ``epoch`` (counted from 0) of a run seeded with ``seed``."""
    return seed * EPOCH_STRIDE + epoch


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (the RNGs whose state a checkpoint saves)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
