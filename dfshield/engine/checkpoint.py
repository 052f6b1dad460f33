"""Checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint holds the detector's name and full run config (so it can be rebuilt and used to
score new media), the trainable weights (a frozen backbone is rebuilt from its config), the
optimiser, scheduler and RNG states (for ``--resume``), the training history and, once chosen, the
decision threshold with how it was chosen. :func:`detector_from_checkpoint` rebuilds the
detector of a checkpoint with its weights (``dfshield test``, ``predict`` and ``robustness``).
"""

from __future__ import annotations

import inspect
import logging
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfshield import __version__
from dfshield.errors import CheckpointError
from dfshield.fileio import atomic_write

logger = logging.getLogger(__name__)

FORMAT = "dfshield-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags) to ``path`` via a temporary file and an atomic
    rename."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dfshield_version": __version__,
        **payload,
    }
    with atomic_write(path, "wb") as handle:
        torch.save(payload, handle)


def load_checkpoint(
    path: str | os.PathLike, expected_detector: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint safely; a file of another detector or format is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable dfshield checkpoint ({error}); it may be "
            "truncated or not made by dfshield"
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a dfshield checkpoint (no '{FORMAT}' tag)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')} (dfshield "
            f"{payload.get('dfshield_version')}); this dfshield {__version__} reads version "
            f"{FORMAT_VERSION}. Use the dfshield version that wrote it, or retrain"
        )
    if expected_detector is not None and payload.get("detector") != expected_detector:
        raise CheckpointError(
            f"{path} is a checkpoint of detector '{payload.get('detector')}', not "
            f"'{expected_detector}'; pass a checkpoint of '{expected_detector}' or build "
            f"'{payload.get('detector')}' instead"
        )
    return payload


def detector_from_checkpoint(detector_config: dict, payload: dict[str, Any], path: Path):
    """Build the detector of ``detector_config`` and load the checkpoint's trainable weights.

    A trained backbone is built without its initial weights (the checkpoint's replace them, so
    nothing is downloaded or read for nothing); a frozen backbone is rebuilt from its config and
    compared with the fingerprint it was trained with (a warning when they differ).
    """
    from dfshield.detectors import build_detector

    detector_config = dict(detector_config)
    if any(key.startswith("backbone.") for key in payload["model"]):
        detector_config["backbone"] = _no_initial_weights(detector_config.get("backbone"))
    detector = build_detector(detector_config)
    try:
        detector.load_trainable_state_dict(payload["model"])
    except RuntimeError as error:
        raise CheckpointError(
            f"{path}: the weights do not fit detector '{payload.get('detector')}' "
            f"as built from the checkpoint's config ({error}); the checkpoint may "
            f"come from another dfshield version — retrain it"
        ) from error
    _check_backbone(detector, payload.get("backbone"), path)
    return detector


def _no_initial_weights(backbone: dict | None) -> dict | None:
    """A trained backbone's config with its initial-weight options off (a boolean ``pretrained``
    set to False, ``checkpoint`` to None), so rebuilding it downloads and reads nothing that the
    checkpoint's own weights then replace (scoring works offline)."""
    from dfshield.registry import BACKBONE

    if not isinstance(backbone, dict) or "name" not in backbone:
        return backbone
    try:
        parameters = inspect.signature(BACKBONE.get(backbone["name"]).__init__).parameters
    except Exception:  # an unknown name: building reports it
        return backbone
    backbone = dict(backbone)
    if "pretrained" in parameters and isinstance(parameters["pretrained"].default, bool):
        backbone["pretrained"] = False
    if "checkpoint" in parameters:
        backbone["checkpoint"] = None
    return backbone


def _check_backbone(detector, stored: dict | None, path: Path) -> None:
    """Warn when the rebuilt frozen backbone differs from the one the checkpoint was trained on
    (e.g. another weights file): its head would score features it never saw."""
    if stored is None or detector.backbone is None or not detector.uses_feature_bank:
        return
    current = detector.backbone.fingerprint()
    keys = (set(current) | set(stored)) - {"precision"}  # the device's, not the weights' choice
    differing = sorted(k for k in keys if current.get(k) != stored.get(k))
    if differing:
        details = "; ".join(
            f"{k}: trained with {stored.get(k)!r}, now {current.get(k)!r}" for k in differing
        )
        logger.warning(
            "%s: the frozen backbone rebuilt from the checkpoint's config differs from "
            "the one it was trained with (%s). Scores may be meaningless unless this is "
            "the same weights file moved or copied; point detector.backbone.pretrained "
            "at the original weights",
            path,
            details,
        )


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (the RNGs whose state :func:`rng_state` saves)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Python, NumPy and PyTorch (CPU and CUDA) RNG states, as weights-only-loadable values."""
    np_state = np.random.get_state()
    state = {
        "python": _to_lists(random.getstate()),
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch"])
    numpy = state["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value):
    return [_to_lists(v) for v in value] if isinstance(value, tuple) else value
