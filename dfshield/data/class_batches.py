"""Training batches that hold at least k samples of each class (``data.min_per_class_per_batch``).

DDLN (Pu et al. 2022, §4.4.5) samples its DFDC-100/200 mini-batches so that each holds a fake:
with 5 fakes among 500 or 1000 reals, a plainly shuffled batch of 16 almost never pairs a fake with
a real, and a pairwise AUC loss is then 0 (docs/methods.md §4).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from dfshield.errors import ConfigError


class MinPerClassBatches(Sampler[list[int]]):
    """A shuffled epoch cut into batches as a plain shuffle would, in which a class with fewer
    than ``k`` samples in a batch gets samples of that class swapped in for samples of the other.

    The swapped-in samples come from a reshuffled cycle through the class, so the minority's
    samples recur about equally often; the number and size of the batches are a plain shuffle's.
    A batch smaller than ``2·k`` (the last one) gets ``len // 2`` of each class instead.

    Args:
        labels: the label (0 real, 1 fake) of every sample of the dataset.
        batch_size: samples a batch.
        k: the least number of samples of each class in a batch, >= 1.
        generator: the epoch's random stream.
        drop_last: leave out a last, smaller batch.
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
