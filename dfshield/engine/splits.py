"""Split providers: where the dataset of each named split a run reads comes from.

A run reads named splits (``train``, ``val``, ``test``, one more per extra test set). The trainer,
evaluator and feature bank only ask a provider for a name, so a study that reads other data (the
imbalance study's subsampled ``train``) hands them another provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Split:
    """One named split's source: a data config, the JSON split ``read`` and the dataset names.

    ``superset`` is a split holding every frame of this one (the full training split of a
    subsample): a frozen backbone encodes it once and every subset shares that encoding.
    """

    data: Any
    read: str
    datasets: tuple[str, ...]
    superset: Split | None = None

    def dataset(self, input_spec: Mapping[str, Any], *, augment: bool = False):
        """The shared loader's dataset of this split, prepared for ``input_spec``."""
        from dfshield.data import DeepfakeDataset

        return DeepfakeDataset(
            self.data, self.read, list(self.datasets), augment=augment, **input_spec
        )


class SplitProvider:
    """The named splits of a run. :meth:`from_data` gives the default: a run's data config."""

    def __init__(self, splits: Mapping[str, Split]):
        self._splits = dict(splits)

    @classmethod
    def from_data(cls, data: Any) -> SplitProvider:
        """``train`` and ``val`` of ``data.train_datasets``, ``test`` of ``data.test_datasets``."""
        train = tuple(data.train_datasets)
        return cls(
            {
                "train": Split(data, "train", train),
                "val": Split(data, "val", train),
                "test": Split(data, "test", tuple(data.test_datasets)),
            }
        )

    def with_splits(self, splits: Mapping[str, Split]) -> SplitProvider:
        """A provider with ``splits`` added (a name already here is replaced)."""
        return SplitProvider({**self._splits, **splits})

    @property
    def names(self) -> list[str]:
        return list(self._splits)

    def split(self, name: str) -> Split:
        if name not in self._splits:
            raise KeyError(f"no split named {name!r}; this run reads {', '.join(self._splits)}")
        return self._splits[name]

    def dataset(self, name: str, input_spec: Mapping[str, Any], *, augment: bool = False):
        """The dataset of split ``name`` prepared for ``input_spec`` (a new one each call)."""
        return self.split(name).dataset(input_spec, augment=augment)
