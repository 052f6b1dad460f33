"""The ``data`` section: dataset reading and augmentation options, checked when made."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dfshield import validation
from dfshield._suggest import did_you_mean
from dfshield.errors import ConfigError
from dfshield.media.frames import DEFAULT_MAX_PIXELS, check_sampling

SPLITS = ("train", "val", "test")
DEFAULT_FRAME_NUM = 32


def _pair(name: str, value: Any, *, integer: bool = False) -> tuple:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (-abs(value), abs(value)) if not integer else (value, value)
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ConfigError(f"data.augment.{name} must be a pair [low, high], got {value!r}")
    low, high = value
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and int(v) != v):
            kind = "integers" if integer else "numbers"
            raise ConfigError(f"data.augment.{name} must hold two {kind}, got {value!r}")
    if low > high:
        raise ConfigError(
            f"data.augment.{name} must be [low, high] with low <= high, got {value!r}"
        )
    return (int(low), int(high)) if integer else (float(low), float(high))


@dataclass
class AugmentConfig:
    """Train-time augmentation (albumentations), never applied to ``val`` or ``test``.

    In this order, each operation with its own probability (0: off); limits are ``[low, high]``;
    defaults are DeepfakeBench's (``xception.yaml``).

    Attributes:
        enabled: ``false`` turns every operation off.
        flip_prob: horizontal flip.
        rotate_prob: rotation by an angle drawn from ``rotate_limit``.
        rotate_limit: degrees.
        blur_prob: Gaussian blur with a kernel size drawn from ``blur_limit``.
        blur_limit: odd kernel sizes (pixels).
        brightness_contrast_prob: random brightness/contrast change.
        brightness_limit: fraction of the maximum value.
        contrast_limit: fraction.
        jpeg_prob: JPEG re-compression at a quality drawn from ``quality_range``.
        quality_range: JPEG quality, 1..100.
        isotropic_resize: DeepfakeBench's ``IsotropicResize`` (random interpolation, padded square).
    """

    enabled: bool = True
    flip_prob: float = 0.5
    rotate_prob: float = 0.0
    rotate_limit: tuple[float, float] = (-10.0, 10.0)
    blur_prob: float = 0.5
    blur_limit: tuple[int, int] = (3, 7)
    brightness_contrast_prob: float = 0.5
    brightness_limit: tuple[float, float] = (-0.1, 0.1)
    contrast_limit: tuple[float, float] = (-0.1, 0.1)
    jpeg_prob: float = 0.5
    quality_range: tuple[int, int] = (40, 100)
    isotropic_resize: bool = True

    def __post_init__(self) -> None:
        for name in (
            "flip_prob",
            "rotate_prob",
            "blur_prob",
            "brightness_contrast_prob",
            "jpeg_prob",
        ):
            setattr(
                self, name, validation.probability("", f"data.augment.{name}", getattr(self, name))
            )
        self.rotate_limit = _pair("rotate_limit", self.rotate_limit)
        self.brightness_limit = _pair("brightness_limit", self.brightness_limit)
        self.contrast_limit = _pair("contrast_limit", self.contrast_limit)
        self.blur_limit = _pair("blur_limit", self.blur_limit, integer=True)
        if any(k < 3 or k % 2 == 0 for k in self.blur_limit):
            raise ConfigError(
                f"data.augment.blur_limit must hold odd kernel sizes >= 3, "
                f"got {list(self.blur_limit)}; e.g. [3, 7]"
            )
        self.quality_range = _pair("quality_range", self.quality_range, integer=True)
        if not 1 <= self.quality_range[0] <= self.quality_range[1] <= 100:
            raise ConfigError(
                f"data.augment.quality_range must lie within 1..100, "
                f"got {list(self.quality_range)}; e.g. [40, 100]"
            )
        for name in ("enabled", "isotropic_resize"):
            validation.boolean("", f"data.augment.{name}", getattr(self, name))

    @classmethod
    def from_dict(cls, data: dict, source: str = "the data config") -> AugmentConfig:
        """Build from a mapping; an unknown key is a ConfigError naming the closest valid key."""
        from dfshield.schema import from_dict

        return from_dict(cls, data, source, prefix="data.augment.")


@dataclass
class DataConfig:
    """Which datasets to read and how (DeepfakeBench JSON + LMDB, or frames on disk).

    Attributes:
        train_datasets: JSON stems (e.g. ``FF-DF_c40``) to train on; validation reads their ``val``.
        test_datasets: JSON stems whose ``test`` split is read for testing.
        json_dir: folder of ``<name>.json``.
        lmdb_dir: folder of ``<Dataset>_lmdb`` (FF-family share one); ``null``: frames on disk.
        data_root: what JSON frame paths are relative to without an LMDB (``null``: the cwd).
        compression: ``c23``, ``c40`` or ``raw`` in FF-family JSONs; a ``_c40`` name reads ``c40``.
        frame_num: frames per video by split (others keep 32; a number sets every split).
        frame_sampling: ``even`` over the video, or ``first`` (as DeepfakeBench's loader).
        clip_size: frames per clip (T) in video mode.
        label_dict: label string -> 0 (real) / 1 (fake), over ``index.DEFAULT_LABEL_DICT``.
        on_bad_frame: ``error`` or ``skip`` (counted per epoch); a missing frame is always an error.
        max_pixels: largest frame decoded (``null``: no limit); larger ones count as undecodable.
        with_mask: also return each frame's manipulation mask (zeros where none).
        with_landmark: also return each frame's 81 landmarks (zeros where none).
        num_workers: DataLoader worker processes.
        min_per_class_per_batch: at least this many reals and fakes per training batch
            (:mod:`.class_batches`; image detectors, one process).
        val_fraction: ``reproduce``'s held-out validation share of training videos, in [0, 1).
        augment: train-time augmentation (``AugmentConfig``).
    """

    train_datasets: list[str] | str = field(default_factory=lambda: ["FaceForensics++"])
    test_datasets: list[str] | str = field(default_factory=lambda: ["FaceForensics++"])
    json_dir: str = "datasets/dataset_json"
    lmdb_dir: str | None = None
    data_root: str | None = None
    compression: Literal["c23", "c40", "raw"] = "c23"
    frame_num: dict[str, int] | int = field(
        default_factory=lambda: {split: DEFAULT_FRAME_NUM for split in SPLITS}
    )
    frame_sampling: Literal["even", "first"] = "even"
    clip_size: int = 32
    label_dict: dict[str, int] = field(default_factory=dict)
    on_bad_frame: Literal["error", "skip"] = "error"
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    with_mask: bool = False
    with_landmark: bool = False
    num_workers: int = 4
    min_per_class_per_batch: int = 0
    val_fraction: float = 0.2
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        for name in ("train_datasets", "test_datasets"):
            value = getattr(self, name)
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) and v for v in value
            ):
                raise ConfigError(f"data.{name} must be a list of dataset names, got {value!r}")
            setattr(self, name, list(value))
        validation.choice("", "data.compression", self.compression, ("c23", "c40", "raw"))
        self.frame_num = _frame_num(self.frame_num)
        check_sampling(self.frame_sampling)
        self.clip_size = validation.integer("", "data.clip_size", self.clip_size, low=1)
        if not isinstance(self.label_dict, dict):
            raise ConfigError(
                f"data.label_dict must map label strings to 0 or 1, got {self.label_dict!r}"
            )
        for key, value in self.label_dict.items():
            if isinstance(value, bool) or value not in (0, 1):
                raise ConfigError(
                    f"data.label_dict['{key}'] must be 0 (real) or 1 (fake), got {value!r}"
                )
        validation.choice("", "data.on_bad_frame", self.on_bad_frame, ("error", "skip"))
        if self.max_pixels is not None:
            self.max_pixels = validation.integer("", "data.max_pixels", self.max_pixels, low=1)
        self.num_workers = validation.integer("", "data.num_workers", self.num_workers, low=0)
        self.min_per_class_per_batch = validation.integer(
            "", "data.min_per_class_per_batch", self.min_per_class_per_batch, low=0
        )
        self.val_fraction = validation.number(
            "", "data.val_fraction", self.val_fraction, low=0.0, high=1.0, high_open=True
        )
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        elif not isinstance(self.augment, AugmentConfig):
            raise ConfigError(
                f"data.augment must be a mapping of augmentation options, got {self.augment!r}"
            )

    def label_mapping(self) -> dict[str, int]:
        """DeepfakeBench's default label dictionary updated with ``label_dict``."""
        from dfshield.data.index import DEFAULT_LABEL_DICT

        return {**DEFAULT_LABEL_DICT, **self.label_dict}

    def datasets_for(self, split: str) -> list[str]:
        """The datasets a split reads: the train ones for ``train``/``val``, else the test ones."""
        if split not in SPLITS:
            raise ConfigError(
                f"unknown split {split!r}; use one of {', '.join(SPLITS)}."
                f"{did_you_mean(str(split), SPLITS)}"
            )
        return list(self.test_datasets if split == "test" else self.train_datasets)

    @classmethod
    def from_dict(cls, data: dict, source: str = "the data config") -> DataConfig:
        """Build from a mapping (``augment`` may be a mapping); unknown keys are a ConfigError."""
        from dfshield.schema import from_dict

        return from_dict(cls, data, source, prefix="data.")


def _frame_num(value: Any) -> dict[str, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = {split: value for split in SPLITS}
    if not isinstance(value, dict):
        raise ConfigError(
            f"data.frame_num must map splits (train, val, test) to frame counts, got {value!r}"
        )
    result = {split: DEFAULT_FRAME_NUM for split in SPLITS}
    for key, count in value.items():
        if key not in SPLITS:
            raise ConfigError(
                f"data.frame_num has an unknown split {key!r}; use train, val, test."
                f"{did_you_mean(str(key), SPLITS)}"
            )
        result[key] = validation.integer("", f"data.frame_num.{key}", count, low=1)
    return result
