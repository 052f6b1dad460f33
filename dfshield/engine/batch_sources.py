"""Batch sources: how a detector reads its splits, chosen once per run by :func:`batch_source`.

:class:`BankBatches` (frozen backbone, single frames) encodes each frame once into the feature
bank, on the device within ``train.bank_device_budget_gb``. :class:`LoaderBatches` (trainable
backbone or video) runs a DataLoader (``DistributedSampler`` under ``torchrun``). Both
read ``pixels="uint8"`` (normalised on the device) and offer ``dataset``, ``steps_per_epoch``,
``train_batches``, ``eval_batches`` and ``targets``: all the trainer and the evaluator use."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset
from torch.utils.data.distributed import DistributedSampler

from dfshield.data.class_batches import MinPerClassBatches
from dfshield.data.config import AugmentConfig
from dfshield.detectors import build_detector
from dfshield.distributed import DistInfo, prepare_device
from dfshield.engine.feature_bank import (
    FeatureBank,
    feature_cache_dir,
    load_or_extract,
    subset_bank,
)
from dfshield.engine.splits import SplitProvider
from dfshield.errors import ConfigError
from dfshield.progress import progress_bar
from dfshield.seeding import seed_everything
from dfshield.validation import number

logger = logging.getLogger(__name__)

#: rows of a feature bank scored at once when evaluating (the head is small)
EVAL_ROWS = 4096


def batch_source(
    detector,
    splits: SplitProvider,
    cfg,
    device: torch.device,
    dist: DistInfo,
    feature_cache: str | os.PathLike | None = None,
) -> BankBatches | LoaderBatches:
    """The batch source for ``detector``: the feature bank when it has a frozen frame backbone
    (``detector.uses_feature_bank``), else a DataLoader over the images."""
    if detector.uses_feature_bank:
        _image_augmentation_not_applied(cfg.data)
        return BankBatches(detector, splits, cfg, device, dist, feature_cache)
    return LoaderBatches(detector, splits, cfg, device, dist)


def _image_augmentation_not_applied(data) -> None:
    """A bank holds each frame's features once, so image-space ``data.augment`` cannot apply: say so
    and switch it off in the run config, so ``config.json`` and the checkpoint record the truth."""
    if not data.augment.enabled:
        return
    asked = data.augment != AugmentConfig()  # anything but the defaults: the user asked for it
    (logger.warning if asked else logger.debug)(
        "data.augment is not applied: this detector trains from a feature bank of its frozen "
        "backbone (each frame encoded once, unaugmented); recorded as data.augment.enabled: "
        "false. Use the detector's latent augmentation, or a trainable backbone, to augment"
    )
    data.augment.enabled = False


def extract_banks(
    cfg, splits: Sequence[str], feature_cache: str | os.PathLike | None = None
) -> tuple[dict[str, FeatureBank], bool]:
    """``dfshield extract``: encode each split of ``cfg.data`` into the feature cache once (a stored
    bank is read). Returns the banks as stored and whether this process is the main rank."""
    device, dist = prepare_device(cfg.train.device)
    seed_everything(cfg.train.seed)  # as the trainer builds the detector
    detector = build_detector(cfg.detector).to(device)
    if not detector.uses_feature_bank:
        raise ConfigError(
            f"detector '{cfg.detector.get('name')}' trains its backbone end to end; only frozen "
            "backbones have a feature bank"
        )
    source = BankBatches(
        detector, SplitProvider.from_data(cfg.data), cfg, device, dist, feature_cache
    )
    return {split: source.encode(split) for split in splits}, dist.is_main


def batch_bounds(n: int, batch_size: int, world_size: int = 1) -> list[tuple[int, int]]:
    """Global batches ``[start, stop)``; a last batch under 2 a rank (BatchNorm) is dropped."""
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if bounds and (bounds[-1][1] - bounds[-1][0]) < 2 * world_size and len(bounds) > 1:
        bounds.pop()
    return bounds


class _Batches:
    """What both sources share: the run's settings and the datasets of the splits read so far."""

    #: whether the training split is augmented in image space
    augment_train = False

    def __init__(self, detector, splits: SplitProvider, cfg, device: torch.device, dist: DistInfo):
        self.detector, self.splits, self.cfg = detector, splits, cfg
        self.device, self.dist = device, dist
        self.batch_size = cfg.train.batch_size
        self.progress = cfg.train.progress and dist.is_main
        self._datasets: dict[str, Any] = {}

    def dataset(self, split: str):
        """The shared loader's dataset of ``split``, prepared for the detector (built once)."""
        if split not in self._datasets:
            augment = self.augment_train and split == "train"
            self._datasets[split] = self.splits.dataset(split, self.input_spec(), augment=augment)
        return self._datasets[split]

    def input_spec(self) -> dict[str, Any]:
        """The detector's input spec, read as uint8 frames (normalised on the device)."""
        return {**self.detector.input_spec(), "pixels": "uint8"}


class LoaderBatches(_Batches):
    """Images through a DataLoader. The training loader is made anew each epoch (workers seeded from
    the epoch's generator: a resumed run augments as an unbroken one); eval loaders are kept."""

    augment_train = True

    def __init__(self, detector, splits, cfg, device, dist):
        super().__init__(detector, splits, cfg, device, dist)
        self._eval_loaders: dict[str, Any] = {}

    def steps_per_epoch(self) -> int:
        return max(1, len(self._train_loader(epoch=0)))

    def _train_loader(self, epoch: int):
        from dfshield.data import make_loader

        dataset = self.dataset("train")
        per_rank = max(1, self.batch_size // self.dist.world_size)
        seed = self.cfg.train.seed
        least = self.cfg.data.min_per_class_per_batch
        if least and self.dist.enabled:
            raise ConfigError(
                "data.min_per_class_per_batch works on one process only; run without torchrun, "
                "or set it to 0"
            )
        if least:
            batches = MinPerClassBatches(
                dataset.labels,
                per_rank,
                least,
                torch.Generator().manual_seed(seed + epoch),
                drop_last=len(dataset) > per_rank,
            )
            return make_loader(
                dataset,
                per_rank,
                batch_sampler=batches,
                pin_memory=self.device.type == "cuda",
                persistent_workers=False,
            )
        if self.dist.enabled:
            sampler: DistributedSampler[int] = DistributedSampler(
                dataset,
                self.dist.world_size,
                self.dist.rank,
                shuffle=True,
                seed=seed,
                drop_last=True,
            )
            sampler.set_epoch(epoch)
            kwargs: dict[str, Any] = {"sampler": sampler, "shuffle": False}
        else:
            kwargs = {"shuffle": True, "generator": torch.Generator().manual_seed(seed + epoch)}
        return make_loader(
            dataset,
            per_rank,
            drop_last=len(dataset) > per_rank,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
            **kwargs,
        )

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict]:
        """This rank's batches of one epoch; skipped frames reported after the last."""
        dataset = self.dataset("train")
        for batch in self._train_loader(epoch):
            yield _on_device(batch, dataset, self.device)
        dataset.report_bad_frames()

    def eval_batches(self, split: str) -> Iterator[dict]:
        dataset = self.dataset(split)
        loader = progress_bar(self._eval_loader(split), enabled=self.progress, desc="predicting")
        for batch in loader:
            yield _on_device(batch, dataset, self.device)

    def _eval_loader(self, split: str):
        from dfshield.data import make_loader

        if split not in self._eval_loaders:
            dataset = self.dataset(split)
            self._eval_loaders[split] = make_loader(
                Subset(dataset, list(range(self.dist.rank, len(dataset), self.dist.world_size))),
                self.batch_size,
                shuffle=False,
                num_workers=self.cfg.data.num_workers,
                pin_memory=self.device.type == "cuda",
            )
        return self._eval_loaders[split]

    def targets(self, split: str) -> tuple[np.ndarray, list[str]]:
        dataset = self.dataset(split)
        return np.asarray(dataset.labels), dataset.video_ids


class BankBatches(_Batches):
    """The frozen backbone's features, encoded once; held on the device when they fit.
    ``feature_cache``: banks shared between runs (default ``<train.output_dir>/feature_cache``)."""

    def __init__(self, detector, splits, cfg, device, dist, feature_cache=None):
        super().__init__(detector, splits, cfg, device, dist)
        if cfg.data.min_per_class_per_batch:
            raise ConfigError(
                f"data.min_per_class_per_batch applies to detectors that read images; "
                f"'{cfg.detector.get('name')}' trains on a feature bank. Set it to 0"
            )
        self.feature_cache = feature_cache_dir(cfg, feature_cache)
        budget = cfg.train.bank_device_budget_gb
        self.device_budget = (
            None
            if budget is None
            else number("train", "bank_device_budget_gb", budget, low=0) * 2**30
        )
        self._banks: dict[str, FeatureBank] = {}

    def encode(self, split: str) -> FeatureBank:
        """The split's bank as stored (memory-mapped): read from the cache, or encoded once.
        A split with a superset takes its rows from the superset's bank."""
        superset = self.splits.split(split).superset
        if superset is not None:
            full = self._load_or_extract(
                superset.dataset(self.input_spec()), f"{split} frames (all videos)"
            )
            subset = subset_bank(full, self.dataset(split))
            if subset is not None:
                return subset
        return self._load_or_extract(self.dataset(split), f"{split} frames")

    def _load_or_extract(self, dataset, description: str) -> FeatureBank:
        return load_or_extract(
            self.detector.backbone,
            dataset,
            self.feature_cache,
            device=self.device,
            batch_size=min(self.batch_size, 256),
            num_workers=self.cfg.data.num_workers,
            progress=self.progress,
            dist_info=self.dist,
            description=description,
        )

    def bank(self, split: str) -> FeatureBank:
        """The split's bank (built once, then kept), labels on the device, features too within
        ``train.bank_device_budget_gb`` (else memory-mapped: :meth:`FeatureBank.take`)."""
        if split not in self._banks:
            bank = self.encode(split)
            fits = self.device_budget is None or bank.nbytes <= self.device_budget
            self._banks[split] = bank.to(self.device, features=fits)
        return self._banks[split]

    def steps_per_epoch(self) -> int:
        rows = len(self.bank("train")) * self.detector.feature_copies
        return len(batch_bounds(rows, self.batch_size, self.dist.world_size))

    def train_batches(self, epoch: int, generator: torch.Generator) -> Iterator[dict]:
        """The epoch's rows (each row in each of ``feature_copies``) shuffled, in global
        batches of which this rank takes every ``world_size``-th row. Gathered and augmented per
        batch: nothing is materialised per epoch; where the bank is held changes no number."""
        bank = self.bank("train")
        n, copies = len(bank), self.detector.feature_copies
        order = torch.randperm(n * copies, generator=generator, device=self.device)
        rank, world = self.dist.rank, self.dist.world_size
        for start, stop in batch_bounds(n * copies, self.batch_size, world):
            index = order[start:stop][rank::world]
            features, labels = self._augmented(bank, index % n, index // n, generator)
            yield {"feature": features, "label": labels, "image": None}

    def _augmented(
        self, bank: FeatureBank, rows: torch.Tensor, copy: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Copy ``copy[i]`` of bank row ``rows[i]``: ``augment_features`` gives ``feature_copies``
        blocks (block ``k`` = copy ``k`` of every row); the wanted copy of each row is kept."""
        features, labels = bank.take(rows, self.device), bank.labels[rows]
        augmented, augmented_labels = self.detector.augment_features(features, labels, generator)
        if len(augmented) != len(rows) * self.detector.feature_copies:
            raise ConfigError(
                f"detector '{self.cfg.detector.get('name')}': augment_features returned "
                f"{len(augmented)} rows for {len(rows)}, not feature_copies = "
                f"{self.detector.feature_copies} times as many"
            )
        pick = copy * len(rows) + torch.arange(len(rows), device=copy.device)
        return augmented[pick], augmented_labels[pick]

    def eval_batches(self, split: str) -> Iterator[dict]:
        bank = self.bank(split)
        mine = torch.arange(self.dist.rank, len(bank), self.dist.world_size)
        for start in range(0, len(mine), EVAL_ROWS):
            index = mine[start : start + EVAL_ROWS]
            features = bank.take(index, self.device)
            yield {"feature": features, "image": None, "index": index.tolist()}

    def targets(self, split: str) -> tuple[np.ndarray, list[str]]:
        bank = self.bank(split)
        return bank.labels.cpu().numpy(), bank.video_ids


def _on_device(batch: dict, dataset, device: torch.device) -> dict:
    """A loader batch on ``device``, its images normalised there (the model input)."""
    moved = {
        key: (value.to(device, non_blocking=True) if torch.is_tensor(value) else value)
        for key, value in batch.items()
    }
    moved["image"] = dataset.normalizer(moved["image"], device)
    return moved
