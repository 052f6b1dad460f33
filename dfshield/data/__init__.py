"""DeepfakeBench-format datasets: ``DeepfakeDataset(cfg, split)``, ``make_loader``, augmentation."""

from dfshield.data.augment import FrameTransform, build_compose
from dfshield.data.config import AugmentConfig, DataConfig
from dfshield.data.dataset import (
    DeepfakeDataset,
    DeepfakeLoader,
    collate,
    make_loader,
)
from dfshield.data.frame_stores import (
    FolderStore,
    LmdbStore,
    MissingKeyError,
    companion_key,
    key_variants,
    open_store,
)
from dfshield.data.index import (
    COMPRESSION_LEVELS,
    DEFAULT_LABEL_DICT,
    FF_FAMILY,
    VideoRecord,
    available_splits,
    lmdb_name,
    normalize_path,
    read_split,
)
from dfshield.data.pixels import DeviceNormalizer, FramePreprocess, pil_preprocess

__all__ = [
    "AugmentConfig",
    "COMPRESSION_LEVELS",
    "DEFAULT_LABEL_DICT",
    "DataConfig",
    "DeepfakeDataset",
    "DeepfakeLoader",
    "DeviceNormalizer",
    "FF_FAMILY",
    "FolderStore",
    "FramePreprocess",
    "FrameTransform",
    "LmdbStore",
    "MissingKeyError",
    "VideoRecord",
    "available_splits",
    "build_compose",
    "collate",
    "companion_key",
    "key_variants",
    "lmdb_name",
    "make_loader",
    "normalize_path",
    "open_store",
    "pil_preprocess",
    "read_split",
]
