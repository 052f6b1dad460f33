"""Checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint holds the detector's name and full run config (so it can be rebuilt and used to
score new media), the trainable weights (a frozen backbone is rebuilt from its config), the
optimiser, scheduler and RNG states (for ``--resume``), the training history and, once chosen, the
decision threshold with how it was chosen.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfshield import __version__
from dfshield.errors import CheckpointError

FORMAT = "dfshield-checkpoint"
FORMAT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags) to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dfshield_version": __version__,
        **payload,
    }
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(payload, tmp)
    os.replace(tmp, path)


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
