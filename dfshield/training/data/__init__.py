"""Reading DeepfakeBench-format datasets (JSON + LMDB or frame folders) and augmentation.

``DeepfakeDataset(cfg, split)`` is the entry point; :func:`make_loader` wraps it in a DataLoader
that counts skipped bad frames. ``dfshield data-info`` (``info.py``) checks a set-up.
"""

from dfshield.training.data.augment import FrameTransform, build_compose
from dfshield.training.data.config import AugmentConfig, DataConfig
from dfshield.training.data.dataset import (DeepfakeDataset, DeepfakeLoader, collate, make_loader,
                                            pil_preprocess)
from dfshield.training.data.frames import (decode_image, decode_landmark, decode_mask,
                                           even_indices, repeat_evenly, select_clips,
                                           select_frames)
from dfshield.training.data.index import (COMPRESSION_LEVELS, DEFAULT_LABEL_DICT, FF_FAMILY,
                                          VideoRecord, available_splits, lmdb_name,
                                          normalize_path, read_split, sort_frames)
from dfshield.training.data.info import DataInfoReport, check_dataset
from dfshield.training.data.lmdb_store import (FolderStore, LmdbStore, MissingKeyError,
                                               companion_key, key_variants, open_store)

__all__ = [
    "AugmentConfig", "COMPRESSION_LEVELS", "DEFAULT_LABEL_DICT", "DataConfig", "DataInfoReport",
    "DeepfakeDataset", "DeepfakeLoader", "FF_FAMILY", "FolderStore", "FrameTransform",
    "LmdbStore", "MissingKeyError", "VideoRecord", "available_splits", "build_compose",
    "check_dataset", "collate", "companion_key", "decode_image", "decode_landmark", "decode_mask",
    "even_indices", "key_variants", "lmdb_name", "make_loader", "normalize_path", "open_store",
    "pil_preprocess", "read_split", "repeat_evenly", "select_clips", "select_frames",
    "sort_frames",
]
