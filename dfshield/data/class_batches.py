"""Batches with at least k of each class (``data.min_per_class_per_batch``; docs/methods.md §4).

DDLN's DFDC sampling: with 5 fakes among 500 reals, a pairwise AUC loss would otherwise be 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from dfshield.errors import ConfigError


class MinPerClassBatches(Sampler[list[int]]):
    """A plain shuffle's batches in which a class short of ``k`` gets samples swapped in.

    They come from a reshuffled cycle through the class (equal recurrence); a batch under ``2·k``
    gets ``len // 2`` of each.
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        batch_size: int,
        k: int,
        generator: torch.Generator,
        drop_last: bool = False,
    ):
        self.labels = np.asarray(labels, dtype=np.int64)
        self.batch_size, self.k = batch_size, k
        self.generator, self.drop_last = generator, drop_last
        if 2 * k > batch_size:
            raise ConfigError(
                f"data.min_per_class_per_batch = {k} asks for {2 * k} samples a batch but "
                f"train.batch_size is {batch_size}; lower the one or raise the other"
            )
        for label, name in ((0, "real"), (1, "fake")):
            if not (self.labels == label).any():
                raise ConfigError(
                    f"data.min_per_class_per_batch = {k} needs {name} training samples and there "
                    f"are none; check data.train_datasets, or set it to 0"
                )

    def __len__(self) -> int:
        n = len(self.labels)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.labels), generator=self.generator).tolist()
        cycles = {label: self._cycle(label) for label in (0, 1)}
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            k = min(self.k, len(batch) // 2)
            for label in (0, 1):  # the batch is in random order: replace its first others
                others = [i for i, index in enumerate(batch) if self.labels[index] != label]
                missing = k - (len(batch) - len(others))
                for position in others[: max(0, missing)]:
                    batch[position] = next(cycles[label])
            yield batch

    def _cycle(self, label: int) -> Iterator[int]:
        members = torch.from_numpy(np.flatnonzero(self.labels == label))
        while True:
            yield from members[torch.randperm(len(members), generator=self.generator)].tolist()
