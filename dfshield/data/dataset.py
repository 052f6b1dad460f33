"""The dataset detectors train and test on: DeepfakeBench JSONs + LMDBs (or frame folders).

Over 450 lines for one job: the dataset, its ``collate`` and its loader share one sample format.

``DeepfakeDataset(cfg, "train")`` reads every dataset of the split, picks ``cfg.frame_num`` frames
a video and yields DeepfakeBench's ``data_dict`` per frame or per clip, in deterministic order
(shuffling is the sampler's). An undecodable frame raises :class:`DataError` or, with
``on_bad_frame: skip``, is dropped by :func:`collate` and flagged in shared memory (right with any
workers and start method) for :meth:`DeepfakeDataset.end_epoch`; a missing frame always raises."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from dfshield.data.augment import FrameTransform, new_seed
from dfshield.data.config import SPLITS, DataConfig
from dfshield.data.frame_stores import companion_key, open_store
from dfshield.data.index import VideoRecord, read_split
from dfshield.data.pixels import (
    DeviceNormalizer,
    FramePreprocess,
    normalizer,
    to_chw,
)
from dfshield.errors import ConfigError, DataError
from dfshield.media.frames import (
    decode_image,
    decode_landmark,
    decode_mask,
    select_clips,
    select_frames,
)

logger = logging.getLogger(__name__)
#: the notes on short videos this process has already logged
NOTED: set[str] = set()

MODES = ("frame", "video")
PIXELS = ("float", "uint8")
NUM_LANDMARKS = 81


class DeepfakeDataset(Dataset):
    """Frames (or clips) of one split of one or several DeepfakeBench-format datasets.

    ``datasets`` defaults to ``cfg.train_datasets`` (``train``/``val``) or ``cfg.test_datasets``;
    a video listed by several is read once. ``mode``: ``frame`` (``image`` (3,H,W)) or ``video``
    (clips of ``cfg.clip_size``, ``image`` (T,3,H,W)). ``mean``/``std`` apply to ``[0, 1]`` RGB;
    ``augment`` defaults to ``split == "train"``. ``preprocess`` replaces resize + normalisation
    (``HxWx3`` uint8 -> (3,H,W); wrap PIL transforms with :func:`pil_preprocess`). ``pixels``:
    ``float`` items, or ``uint8`` ones normalised on the device (:mod:`dfshield.data.pixels`; a
    ``preprocess`` not a ``FramePreprocess`` gives float either way). ``normalizer(batch["image"],
    device)`` is the model input whatever ``pixels`` is.

    Items are dicts: ``image``, ``label`` (int), ``landmark`` ((81,2) / (T,81,2) or None),
    ``mask`` ((1,H,W) / (T,1,H,W) in [0,1], or None), ``video_id`` (full video path),
    ``frame_key`` (str, in video mode the list of keys), ``dataset`` and ``index``."""

    #: :func:`collate`, set below; DeepfakeBench hands ``dataset.collate_fn`` to its DataLoader
    collate_fn: ClassVar[staticmethod[[list[dict]], dict]]
    collate: ClassVar[staticmethod[[list[dict]], dict]]

    def __init__(
        self,
        cfg: DataConfig,
        split: str,
        datasets: Sequence[str] | None = None,
        *,
        mode: str = "frame",
        resolution: int = 256,
        mean: Sequence[float] = (0.5, 0.5, 0.5),
        std: Sequence[float] = (0.5, 0.5, 0.5),
        augment: bool | None = None,
        preprocess: Callable[[np.ndarray], torch.Tensor] | None = None,
        pixels: str = "float",
    ):
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        if mode not in MODES:
            raise ConfigError(f"unknown dataset mode {mode!r}; use 'frame' or 'video'")
        if pixels not in PIXELS:
            raise ConfigError(f"unknown pixels {pixels!r}; use 'float' or 'uint8'")
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
            raise ConfigError(f"resolution must be a positive integer, got {resolution!r}")
        if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
            raise ConfigError(f"mean and std need three values (std > 0), got {mean!r}, {std!r}")
        self.cfg = cfg
        self.split = split
        self.mode = mode
        self.datasets = list(datasets) if datasets is not None else cfg.datasets_for(split)
        if not self.datasets:
            which = "test_datasets" if split == "test" else "train_datasets"
            raise ConfigError(f"no datasets to read for split '{split}'; set data.{which}")
        self.resolution = resolution
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._normalize = normalizer(self.mean, self.std)
        self.augment = (split == "train") if augment is None else bool(augment)
        self.preprocess = preprocess
        self.pixels = pixels
        stats = preprocess if isinstance(preprocess, FramePreprocess) else self
        self.normalizer = DeviceNormalizer(stats.mean, stats.std)
        self.transform = FrameTransform(
            cfg.augment if self.augment else None,
            resolution,
            train=self.augment,
            resize=preprocess is None,
            with_keypoints=cfg.with_landmark,
        )

        store_cache: dict = {}
        self._stores: dict[str, Any] = {}
        records: list[VideoRecord] = []
        seen: dict[str, VideoRecord] = {}
        self.duplicate_videos = 0
        self.empty_videos: list[VideoRecord] = []
        for name in self.datasets:
            self._stores[name] = open_store(name, cfg, store_cache)
            for record in read_split(cfg.json_dir, name, split, cfg.compression, cfg.label_dict):
                if not record.frames:
                    self.empty_videos.append(record)
                    continue
                previous = seen.get(record.video_path)
                if previous is not None:
                    if previous.label != record.label:
                        raise DataError(
                            f"video '{record.video_path}' is labelled {previous.label} "
                            f"('{previous.label_name}') in dataset '{previous.dataset}' but "
                            f"{record.label} ('{record.label_name}') in dataset "
                            f"'{record.dataset}'; "
                            f"fix the label strings or data.label_dict"
                        )
                    self.duplicate_videos += 1
                    continue
                seen[record.video_path] = record
                records.append(record)
        if self.empty_videos:
            logger.warning(
                "%d video(s) of split '%s' list no frames and are left out, e.g. %s",
                len(self.empty_videos),
                split,
                self.empty_videos[0].video_path,
            )
        if self.duplicate_videos:
            logger.info(
                "%d video(s) listed by more than one dataset are read once", self.duplicate_videos
            )
        self._records = records

        assert isinstance(cfg.frame_num, dict)  # DataConfig makes a number one value a split
        frame_num = cfg.frame_num[split]
        items: list[tuple[int, Any]] = []
        self.short_videos = 0
        for position, record in enumerate(records):
            if mode == "frame":
                chosen = select_frames(record.frames, frame_num, cfg.frame_sampling)
                self.short_videos += len(chosen) < frame_num
                items.extend((position, key) for key in chosen)
            else:
                self.short_videos += len(record.frames) < cfg.clip_size
                items.extend(
                    (position, tuple(clip))
                    for clip in select_clips(
                        record.frames, frame_num, cfg.clip_size, cfg.frame_sampling
                    )
                )
        if self.short_videos:
            needed = frame_num if mode == "frame" else cfg.clip_size
            note = (
                f"{self.short_videos} video(s) of split '{split}' of {', '.join(self.datasets)} "
                f"have fewer than {needed} frames ("
                + (
                    "all their frames are used"
                    if mode == "frame"
                    else "their frames are repeated evenly to fill a clip"
                )
                + ")"
            )
            if note not in NOTED:  # every detector of a study reads the same splits: say it once
                NOTED.add(note)
                logger.info(note)
        self._items = items
        self._labels = np.array([records[p].label for p, _ in items], dtype=np.int64)
        # one byte per item, set by whichever process skips it (shared with DataLoader workers)
        self._bad_flags = torch.zeros(max(1, len(items)), dtype=torch.uint8).share_memory_()

    # -- metadata -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    @property
    def records(self) -> list[VideoRecord]:
        """The videos read, in order (duplicates and videos without frames left out)."""
        return list(self._records)

    @property
    def labels(self) -> np.ndarray:
        """The label (0 real, 1 fake) of each item."""
        return self._labels.copy()

    @property
    def video_ids(self) -> list[str]:
        """The full video path of each item."""
        return [self._records[p].video_path for p, _ in self._items]

    @property
    def frame_keys(self) -> list[Any]:
        """The frame key of each item (a tuple of keys per clip in video mode)."""
        return [keys for _, keys in self._items]

    @property
    def item_datasets(self) -> list[str]:
        """The dataset name of each item."""
        return [self._records[p].dataset for p, _ in self._items]

    @property
    def class_counts(self) -> dict[str, int]:
        """Items per class: ``{"real": n, "fake": n}``."""
        fake = int(self._labels.sum())
        return {"real": int(len(self._labels) - fake), "fake": fake}

    def store(self, dataset: str) -> Any:
        """The LMDB or folder store a dataset reads from."""
        return self._stores[dataset]

    def __repr__(self) -> str:
        counts = self.class_counts
        return (
            f"DeepfakeDataset(split={self.split!r}, datasets={self.datasets}, mode={self.mode!r}, "
            f"videos={len(self._records)}, items={len(self)}, real={counts['real']}, "
            f"fake={counts['fake']})"
        )

    # -- reading --------------------------------------------------------------------------
    def __getitem__(self, index: int) -> dict:
        position, keys = self._items[index]
        record = self._records[position]
        store = self._stores[record.dataset]
        key_list = [keys] if self.mode == "frame" else list(keys)
        seed = new_seed() if self.transform.train else None  # one augmentation per clip
        images: list[torch.Tensor] = []
        masks: list[torch.Tensor] = []  # one a frame with cfg.with_mask, else none
        landmarks: list[torch.Tensor] = []
        for key in key_list:
            data = store.get(key, dataset=record.dataset)  # a missing key is always an error
            try:
                image = decode_image(data, key, record.dataset, max_pixels=self.cfg.max_pixels)
                mask = (
                    self._load_mask(store, key, record, image.shape[:2])
                    if self.cfg.with_mask
                    else None
                )
                landmark = (
                    self._load_landmark(store, key, record) if self.cfg.with_landmark else None
                )
            except DataError as error:
                if self.cfg.on_bad_frame == "skip":
                    self._bad_flags[index] = 1
                    logger.debug("skipping undecodable frame: %s", error)
                    return {
                        "skipped": True,
                        "index": index,
                        "dataset": record.dataset,
                        "frame_key": key,
                        "video_id": record.video_path,
                        "reason": str(error),
                    }
                raise DataError(
                    f"{error} (split '{self.split}', item {index}). Set "
                    f"data.on_bad_frame: skip to drop such frames; they are counted and "
                    f"reported at the end of each epoch"
                ) from error
            image, mask, landmark = self.transform(image, mask, landmark, seed)
            images.append(self._to_tensor(image, key, record))
            if mask is not None:
                masks.append(torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None])
            if landmark is not None:
                landmarks.append(torch.from_numpy(landmark))
        if self.mode == "frame":
            image_out = images[0]
            mask_out = masks[0] if masks else None
            landmark_out = landmarks[0] if landmarks else None
        else:
            image_out = torch.stack(images)
            mask_out = torch.stack(masks) if self.cfg.with_mask else None
            landmark_out = torch.stack(landmarks) if self.cfg.with_landmark else None
        return {
            "image": image_out,
            "label": int(record.label),
            "landmark": landmark_out,
            "mask": mask_out,
            "video_id": record.video_path,
            "frame_key": keys if self.mode == "frame" else list(keys),
            "dataset": record.dataset,
            "index": index,
        }

    def _load_mask(self, store: Any, key: str, record: VideoRecord, shape: tuple) -> np.ndarray:
        mask_key = companion_key(key, "mask")
        data = store.get_optional(mask_key, thorough=False)
        if data is None:  # real videos have no mask: DeepfakeBench uses zeros as well
            return np.zeros(shape, dtype=np.float32)
        mask = decode_mask(data, mask_key, record.dataset)
        if mask.shape != tuple(shape):
            import cv2

            mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
        return mask

    def _load_landmark(self, store: Any, key: str, record: VideoRecord) -> np.ndarray:
        landmark_key = companion_key(key, "landmark")
        data = store.get_optional(landmark_key, thorough=False)
        if data is None:
            return np.zeros((NUM_LANDMARKS, 2), dtype=np.float32)
        return decode_landmark(data, landmark_key, record.dataset)

    def _to_tensor(self, image: np.ndarray, key: str, record: VideoRecord) -> torch.Tensor:
        uint8 = self.pixels == "uint8"
        if self.preprocess is None:
            return to_chw(image) if uint8 else self._normalize(image)
        image = np.ascontiguousarray(image)
        if uint8 and isinstance(self.preprocess, FramePreprocess):
            return to_chw(self.preprocess.resize(image))
        tensor = self.preprocess(image)
        if not isinstance(tensor, torch.Tensor) or tensor.ndim != 3:
            raise DataError(
                f"preprocess must return a (3, H, W) tensor, got "
                f"{getattr(tensor, 'shape', type(tensor).__name__)} for frame '{key}'"
            )
        return tensor

    # -- bad-frame accounting -------------------------------------------------------------
    @property
    def bad_frames(self) -> int:
        """Items skipped as undecodable since the last :meth:`end_epoch`, by any process."""
        return int(self._bad_flags.sum())

    @property
    def bad_frame_log(self) -> list[tuple[str, Any]]:
        """``(dataset, frame_key)`` of the items skipped since the last :meth:`end_epoch`."""
        flagged = torch.nonzero(self._bad_flags[: len(self._items)]).flatten().tolist()
        return [(self._records[self._items[i][0]].dataset, self._items[i][1]) for i in flagged]

    def end_epoch(self) -> dict:
        """Report (naming up to five frames) and reset the skipped frames: ``{"count",
        "by_dataset", "frames"}``. Call it in the main process once the epoch's batches are done."""
        frames = self.bad_frame_log
        self._bad_flags.zero_()
        by_dataset = dict(Counter(dataset for dataset, _ in frames))
        if frames:
            shown = ", ".join(f"{dataset}:{key}" for dataset, key in frames[:5])
            logger.warning(
                "skipped %d undecodable frame(s) this epoch (split '%s'; %s): %s%s",
                len(frames),
                self.split,
                by_dataset,
                shown,
                " ..." if len(frames) > 5 else "",
            )
        return {"count": len(frames), "by_dataset": by_dataset, "frames": frames}

    report_bad_frames = end_epoch


def _stack_optional(values: list) -> torch.Tensor | None:
    if any(v is None for v in values):
        return None
    return torch.stack(values)


def _stack_images(images: list[torch.Tensor]) -> torch.Tensor:
    """The items' images as one batch. Channel-last uint8 frames (``to_chw`` views) are copied into
    one ``(B, H, W, 3)`` batch, handed over as its ``(B, 3, H, W)`` view: a plain copy straight into
    a worker's shared memory, so the batch reaches the main process without another copy."""
    if all(image.dtype == torch.uint8 and image.ndim == 3 for image in images):
        hwc = [image.permute(1, 2, 0) for image in images]
        if all(view.is_contiguous() for view in hwc):
            return default_collate(hwc).permute(0, 3, 1, 2)
    return torch.stack(images)


def collate(batch: list[dict]) -> dict:
    """Batch items into DeepfakeBench's ``data_dict`` (plus ids), dropping skipped samples.
    ``image`` (B,3,H,W) or (B,T,3,H,W) (``None`` if all were skipped), ``label`` and ``index`` (B,)
    long, ``landmark``/``mask`` stacked or ``None``, ``video_id``/``frame_key``/``dataset`` lists,
    and ``skipped``: the dropped samples (dataset, frame_key, video_id, reason, index)."""
    kept = [item for item in batch if not item.get("skipped")]
    skipped = [
        {k: v for k, v in item.items() if k != "skipped"} for item in batch if item.get("skipped")
    ]
    if not kept:
        return {
            "image": None,
            "label": torch.zeros(0, dtype=torch.long),
            "landmark": None,
            "mask": None,
            "video_id": [],
            "frame_key": [],
            "dataset": [],
            "index": torch.zeros(0, dtype=torch.long),
            "skipped": skipped,
        }
    return {
        "image": _stack_images([item["image"] for item in kept]),
        "label": torch.tensor([item["label"] for item in kept], dtype=torch.long),
        "landmark": _stack_optional([item["landmark"] for item in kept]),
        "mask": _stack_optional([item["mask"] for item in kept]),
        "video_id": [item["video_id"] for item in kept],
        "frame_key": [item["frame_key"] for item in kept],
        "dataset": [item["dataset"] for item in kept],
        "index": torch.tensor([item["index"] for item in kept], dtype=torch.long),
        "skipped": skipped,
    }


DeepfakeDataset.collate_fn = staticmethod(collate)
DeepfakeDataset.collate = staticmethod(collate)


class DeepfakeLoader(DataLoader):
    """A DataLoader that leaves out batches whose every sample was skipped as undecodable."""

    def __iter__(self) -> Iterator[dict]:  # type: ignore[override]
        for batch in super().__iter__():
            if len(batch["label"]) == 0:
                continue
            yield batch


#: batches each worker keeps ready: uint8 frames make four of them a quarter of the shared memory
#: that two float32 batches took
PREFETCH_FACTOR = 4


def make_loader(
    dataset: DeepfakeDataset | Subset,
    batch_size: int,
    *,
    shuffle: bool | None = None,
    num_workers: int | None = None,
    drop_last: bool = False,
    generator: torch.Generator | None = None,
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
    **kwargs: Any,
) -> DeepfakeLoader:
    """A :class:`DeepfakeLoader` over ``dataset`` with :func:`collate` (other kwargs: DataLoader).

    ``shuffle`` defaults to ``split == "train"``, ``num_workers`` to ``cfg.num_workers`` (a
    ``Subset`` must pass both), ``pin_memory`` to CUDA's presence, ``persistent_workers`` to true
    with workers (kept LMDBs). Each worker decodes on one core (sequential OpenCV, one torch
    thread), so give about the cores less one."""
    if shuffle is None or num_workers is None:
        if not isinstance(dataset, DeepfakeDataset):
            raise ConfigError(
                "make_loader needs shuffle= and num_workers= for a Subset: their defaults come "
                "from a DeepfakeDataset's split and cfg"
            )
        if shuffle is None:
            shuffle = dataset.split == "train" and "sampler" not in kwargs
        if num_workers is None:
            num_workers = dataset.cfg.num_workers
    if kwargs.get("batch_sampler") is not None:  # it makes the batches: DataLoader's defaults
        batch_size, shuffle, drop_last = 1, False, False
    workers = num_workers
    if workers > 0:
        # OpenCV's thread pool does not survive fork: a worker that touches it (a threaded resize,
        # or cv2.setNumThreads itself) can wait forever on threads that live only in the parent.
        # Sequential OpenCV in the parent before forking leaves workers nothing to wait on.
        cv2.setNumThreads(0)
        kwargs.setdefault("prefetch_factor", PREFETCH_FACTOR)
    return DeepfakeLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=workers,
        drop_last=drop_last,
        generator=generator,
        collate_fn=collate,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=workers > 0 if persistent_workers is None else persistent_workers,
        **kwargs,
    )
