"""Checkpoints: written atomically, read with ``torch.load(..., weights_only=True)``.

A checkpoint holds the detector's name and full run config, the trainable weights, optimiser,
scheduler and RNG states, the history and the decision threshold. Whatever is loaded is compared
with what it was made with, and a difference is named by its dotted config keys
(:func:`config_differences`).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfshield import __version__
from dfshield.errors import CheckpointError, WriteError
from dfshield.fileio import atomic_write, free_space, json_ready

logger = logging.getLogger(__name__)

FORMAT = "dfshield-checkpoint"
FORMAT_VERSION = 1
#: what every checkpoint of dfshield's trainer holds (besides the format tags)
REQUIRED_KEYS = ("detector", "config", "epoch", "model")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags) to ``path`` atomically."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dfshield_version": __version__,
        **payload,
    }
    try:
        with atomic_write(path, "wb") as handle:
            torch.save(payload, handle)
    except (OSError, RuntimeError) as error:  # a full disk reaches torch.save as either
        free = free_space(path)
        room = f"; {free}" if free else ""
        reason = error.__cause__ if isinstance(error, WriteError) else error
        then = (
            "continue with --resume"
            if Path(path).with_name("last.pt").is_file()
            else "run it again (no checkpoint was written yet, so there is nothing to resume)"
        )
        raise CheckpointError(
            f"cannot write the checkpoint {path} ({reason}{room}); the previous {Path(path).name}, "
            f"if any, is kept. Free disk space (or choose another --run-dir) and {then}"
        ) from error


def load_checkpoint(
    path: str | os.PathLike, expected_detector: str | None = None
) -> dict[str, Any]:
    """Read a checkpoint safely; another detector, format or missing keys is a clear error."""
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
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    if missing or not isinstance(payload["config"], dict):
        raise CheckpointError(
            f"{path} has no {', '.join(missing) or 'valid config'}; it was not written by "
            "dfshield's trainer or is damaged. Use a best.pt or last.pt of a training run"
        )
    malformed = _malformed_fields(payload)
    if malformed:
        raise CheckpointError(
            f"{path} is damaged: {'; '.join(malformed)}. Use another best.pt or last.pt (for a "
            "bad threshold only: pass --threshold with a probability such as 0.5)"
        )
    if expected_detector is not None and payload.get("detector") != expected_detector:
        raise CheckpointError(
            f"{path} is a checkpoint of detector '{payload.get('detector')}', not "
            f"'{expected_detector}'; pass a checkpoint of '{expected_detector}' or build "
            f"'{payload.get('detector')}' instead"
        )
    return payload


def _malformed_fields(payload: dict[str, Any]) -> list[str]:
    """What is wrong with the fields dfshield reads, each as ``'key' is <value> (...)``."""
    problems = []

    def wrong(key: str, value: Any, expected: str) -> None:
        problems.append(f"'{key}' is {str(value)[:60]} ({type(value).__name__}), not {expected}")

    model = payload["model"]
    if not isinstance(model, dict) or not all(isinstance(key, str) for key in model):
        wrong("model", model, "a mapping of parameter names to tensors")
    if not isinstance(payload["detector"], str):
        wrong("detector", payload["detector"], "a detector name")
    epoch = payload["epoch"]  # None: imported weights (their training is not ours)
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, int)):
        wrong("epoch", epoch, "an integer")
    threshold = payload.get("threshold")
    if threshold is not None and not (
        isinstance(threshold, dict)
        and isinstance(threshold.get("value"), (int, float))
        and not isinstance(threshold.get("value"), bool)
    ):
        wrong("threshold", threshold, "{value, rule, chosen_on}")
    return problems


def checkpoint_run_config(path: str | os.PathLike, layers: Sequence[tuple[str, dict]] = ()):
    """The run config to evaluate a checkpoint under: its own, with ``layers`` on top. A layer that
    names another detector is refused (the weights fit only their own)."""
    from dfshield.config import saved_run_config

    path = Path(path)
    payload = load_checkpoint(path)
    for source, layer in layers:
        section = layer.get("detector")
        wanted = section.get("name") if isinstance(section, dict) else None
        if wanted is not None and wanted != payload["detector"]:
            raise CheckpointError(
                f"{path} is a checkpoint of detector '{payload['detector']}', but {source} sets "
                f"detector.name to '{wanted}'; a checkpoint's weights fit only the detector they "
                f"were trained for. Drop detector.name from {source}, or pass a checkpoint of "
                f"'{wanted}'"
            )
    return saved_run_config(payload["config"], path, layers)


def detector_from_checkpoint(detector_config: dict, payload: dict[str, Any], path: Path):
    """Build the detector of ``detector_config`` and load the checkpoint's trainable weights. A
    trained backbone is built without initial weights (nothing downloaded for nothing); a frozen one
    is rebuilt and compared with the fingerprint it was trained with (a warning if it differs)."""
    from dfshield.detectors import build_detector

    built_config = dict(detector_config)
    if any(key.startswith("backbone.") for key in payload["model"]):
        built_config["backbone"] = _no_initial_weights(built_config.get("backbone"))
    detector = build_detector(built_config)
    load_weights(detector, payload, path, detector_config)
    _check_backbone(detector, payload, path, detector_config)
    return detector


def load_weights(detector, payload: dict[str, Any], path: Path, detector_config: Mapping) -> None:
    """Load a checkpoint's trainable weights; a misfit names the config keys that differ."""
    try:
        detector.load_trainable_state_dict(payload["model"])
    except RuntimeError as error:
        changed = config_differences(
            {"detector": payload["config"].get("detector")}, {"detector": detector_config}
        )
        fix = (
            f"the detector config differs from the checkpoint's in "
            f"{format_differences(changed)}; drop these changes (--set or config edits), or "
            "use a checkpoint trained with them"
            if changed
            else "the checkpoint may come from another dfshield version; retrain it"
        )
        raise CheckpointError(
            f"{path}: the weights do not fit detector '{payload['detector']}' as configured now "
            f"({error}); {fix}"
        ) from error


def _no_initial_weights(backbone: dict | None) -> dict | None:
    """A trained backbone config with no initial weights, so rebuilding it reads nothing."""
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


def _check_backbone(detector, payload: dict[str, Any], path: Path, detector_config) -> None:
    """Warn when the frozen backbone differs from the one the checkpoint was trained on. Not an
    error: the same weights file moved or copied has another fingerprint too."""
    stored = payload.get("backbone")
    if stored is None or not detector.uses_feature_bank:
        return
    # the precision that ran is the device's choice, not the weights': a checkpoint trained on a
    # GPU (bf16) and rebuilt on a CPU (fp32) has the same backbone
    current = {k: v for k, v in detector.backbone.fingerprint().items() if k != "precision"}
    differing = config_differences({k: v for k, v in stored.items() if k != "precision"}, current)
    if not differing:
        return
    configured = config_differences(
        {"detector": {"backbone": payload["config"].get("detector", {}).get("backbone")}},
        {"detector": {"backbone": detector_config.get("backbone")}},
    )
    logger.warning(
        "%s: the frozen backbone as configured now differs from the one this checkpoint was "
        "trained with (fingerprint: %s; config: %s). Its head would score features it never saw, "
        "so the scores may be meaningless unless this is the same weights file moved or copied. "
        "Drop the changes to detector.backbone, or point detector.backbone.pretrained at the "
        "original weights",
        path,
        format_differences(differing),
        format_differences(configured) if configured else "unchanged",
    )


class _Absent:
    """A key one of two compared configs does not have."""

    def __repr__(self) -> str:
        return "(not set)"


_ABSENT = _Absent()


def config_differences(saved: Any, current: Any) -> list[tuple[str, Any, Any]]:
    """``(dotted key, saved, current)`` per differing value of two configs, in ``saved``'s order.
    Values compare as JSON stores them, so a tuple equals a list."""
    return _differences(_as_json(saved), _as_json(current), "")


def format_differences(differences: Sequence[tuple[str, Any, Any]], separator: str = "; ") -> str:
    """``key: saved → current`` items joined by ``separator``."""
    return separator.join(f"{key}: {old!r} → {new!r}" for key, old, new in differences)


def _as_json(value: Any) -> Any:
    return json.loads(json.dumps(json_ready(value)))


def _differences(saved: Any, current: Any, key: str) -> list[tuple[str, Any, Any]]:
    def below(name: Any) -> str:
        return f"{key}.{name}" if key else str(name)

    if isinstance(saved, dict) and isinstance(current, dict):
        names = [*saved, *(name for name in current if name not in saved)]
        return [
            item
            for name in names
            for item in _differences(
                saved.get(name, _ABSENT), current.get(name, _ABSENT), below(name)
            )
        ]
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        return [
            item
            for index, (old, new) in enumerate(zip(saved, current))
            for item in _differences(old, new, below(index))
        ]
    return [] if saved == current else [(key, saved, current)]


def rng_state() -> dict[str, Any]:
    """Python, NumPy and PyTorch (CPU and CUDA) RNG states, as weights-only-loadable values."""
    np_state = np.random.get_state(legacy=True)
    assert isinstance(np_state, tuple)  # the global generator is an MT19937: its legacy tuple
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
