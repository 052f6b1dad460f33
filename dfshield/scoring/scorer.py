"""The :class:`Scorer` behind ``predict`` and ``robustness``: a checkpoint scoring new frames.

Frames are prepared as ``DeepfakeDataset`` prepares test frames and run by the evaluator's
``forward_batch``, so they score as in ``test``; fake when ``sigmoid(cls) >= threshold``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from dfshield.errors import CheckpointError, ConfigError
from dfshield.eval.evaluator import amp_dtype, forward_batch, pred_scores
from dfshield.eval.predictions import Predictions, assemble, batch_items
from dfshield.progress import progress_bar

logger = logging.getLogger(__name__)

__all__ = [
    "Scorer",
    "Threshold",
    "resolve_threshold",
    "frame_preprocessor",
    "Predictions",
    "score_dataset",
    "PerturbedDataset",
]


# -----------------------------------------------------------------------------------------
# decision threshold
# -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    """A probability threshold (fake when ``prob >= value``) and how it was chosen."""

    value: float
    rule: str  # "eer", "fpr:0.01", "fixed" or "default"
    chosen_on: str

    def decide(self, prob: float) -> str:
        return "fake" if prob >= self.value else "real"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "rule": self.rule, "chosen_on": self.chosen_on}


def resolve_threshold(
    payload: dict, spec: str | float = "eer", source: str = "the checkpoint"
) -> Threshold:
    """The threshold ``spec`` asks for: ``eer`` (stored; 0.5 with a warning if none), a probability,
    or ``fpr:X``, which needs stored validation scores or threshold, else CheckpointError."""
    text = str(spec).strip().lower()
    stored = payload.get("threshold") or None
    if text == "eer":
        if stored is None:
            logger.warning(
                "%s stores no decision threshold (no validated best epoch); using 0.5. "
                "Use best.pt, or pass --threshold with a number",
                source,
            )
            return Threshold(0.5, "default", "none stored in the checkpoint")
        if stored.get("rule") != "eer":
            raise CheckpointError(
                f"{source} stores a threshold chosen by rule '{stored.get('rule')}', "
                f"not 'eer'; pass --threshold {stored.get('rule')} or a number"
            )
        return Threshold(
            float(stored["value"]), "eer", str(stored.get("chosen_on", "validation split"))
        )
    if text.startswith("fpr:"):
        try:
            target = float(text[4:])
        except ValueError:
            target = math.nan
        if not 0.0 <= target <= 1.0:
            raise ConfigError(
                f"--threshold {spec!r}: the target FPR must be a number in [0, 1], e.g. fpr:0.01"
            )
        rule = f"fpr:{target:g}"
        if stored is not None and stored.get("rule") == rule:
            return Threshold(
                float(stored["value"]), rule, str(stored.get("chosen_on", "validation split"))
            )
        validation = payload.get("validation")
        if (
            not isinstance(validation, dict)
            or "scores" not in validation
            or "labels" not in validation
        ):
            have = f"only the '{stored.get('rule')}' threshold" if stored else "no threshold"
            raise CheckpointError(
                f"--threshold {rule} needs the validation scores, but {source} stores {have} "
                f"(chosen on the validation split) and no validation scores. Use --threshold eer, "
                f"or a probability such as --threshold 0.7, or retrain with a dfshield that stores "
                f"validation scores in the checkpoint"
            )
        from dfshield.eval.metrics import threshold_at_fpr

        scores = np.asarray(torch.as_tensor(validation["scores"]).double().cpu())
        labels = np.asarray(torch.as_tensor(validation["labels"]).long().cpu())
        return Threshold(
            float(threshold_at_fpr(scores, labels, target)),
            rule,
            "validation split (scores stored in the checkpoint)",
        )
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(
            f"--threshold {spec!r} is not understood; use eer, fpr:0.01 or a "
            f"probability in [0, 1] such as 0.5"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise ConfigError(
            f"--threshold {spec!r}: a fixed threshold is a probability of fake in "
            f"[0, 1] (not a logit), e.g. 0.5"
        )
    return Threshold(value, "fixed", "given on the command line")


# -----------------------------------------------------------------------------------------
# preprocessing
# -----------------------------------------------------------------------------------------
def frame_preprocessor(
    spec: dict, with_landmark: bool = False
) -> Callable[[np.ndarray], torch.Tensor]:
    """``rgb (H, W, 3) uint8 -> (3, H', W')`` float as ``DeepfakeDataset`` makes a test frame: the
    backbone's ``preprocess``, else bicubic resize then ``normalizer``."""
    from dfshield.data.augment import FrameTransform
    from dfshield.data.dataset import normalizer

    preprocess = spec.get("preprocess")
    transform = FrameTransform(
        None,
        spec["resolution"],
        train=False,
        resize=preprocess is None,
        with_keypoints=with_landmark,
    )
    normalize = normalizer([float(m) for m in spec["mean"]], [float(s) for s in spec["std"]])

    def apply(rgb: np.ndarray) -> torch.Tensor:
        image, _, _ = transform(rgb)
        if preprocess is not None:
            return preprocess(np.ascontiguousarray(image))
        return normalize(image)

    return apply


# -----------------------------------------------------------------------------------------
# the scorer
# -----------------------------------------------------------------------------------------
class Scorer:
    """A trained detector scoring frames or (video mode) clips; see :meth:`from_checkpoint`."""

    def __init__(
        self,
        detector,
        config,
        *,
        device: torch.device,
        threshold: Threshold,
        checkpoint: Path | None = None,
        epoch: int | None = None,
    ):
        self.detector = detector.to(device).eval()
        self.config = config
        self.device = device
        self.threshold = threshold
        self.checkpoint = checkpoint
        self.epoch = epoch
        self.name = str(config.detector.get("name"))
        self.spec = detector.input_spec()
        self.mode = self.spec["mode"]
        self.clip_size = int(config.data.clip_size)
        self.preprocess = frame_preprocessor(self.spec)
        # as the trainer: the run's amp setting decides autocast for a trainable backbone; a frozen
        # backbone autocasts itself (its ``precision`` option) and its head runs in float32
        self.amp_dtype = amp_dtype(config.train.amp, device)
        self.frozen = bool(detector.uses_feature_bank)

    @classmethod
    def from_checkpoint(
        cls, path: str | Path, device: str | torch.device = "auto", threshold: str | float = "eer"
    ) -> Scorer:
        """Load a checkpoint (weights only) on ``device`` (``auto``: CUDA if any)."""
        from dfshield.config import saved_run_config
        from dfshield.distributed import resolve_device
        from dfshield.engine.checkpoint import detector_from_checkpoint, load_checkpoint

        path = Path(path)
        payload = load_checkpoint(path)  # checks the run config and the weights are there
        config = saved_run_config(payload["config"], path)
        resolved = resolve_device(str(device)) if not isinstance(device, torch.device) else device
        detector = detector_from_checkpoint(config.detector, payload, path)
        return cls(
            detector,
            config,
            device=resolved,
            threshold=resolve_threshold(payload, threshold, source=str(path)),
            checkpoint=path,
            epoch=payload.get("epoch"),
        )

    # -- identity ---------------------------------------------------------------------------
    def encoder_key(self) -> str | None:
        """The frozen encoder's identity (equal keys: equal features); None if trained or clips."""
        if not self.frozen or self.mode != "frame":
            return None
        return json.dumps(
            {"backbone": self.detector.backbone.fingerprint(), "spec": self.spec_key()},
            sort_keys=True,
            default=str,
        )

    def spec_key(self) -> str:
        """Identifies how frames are turned into model inputs (equal keys: equal tensors)."""
        preprocess = self.detector.backbone.fingerprint() if self.spec.get("preprocess") else None
        return json.dumps(
            {
                "mode": self.mode,
                "resolution": self.spec["resolution"],
                "mean": list(self.spec["mean"]),
                "std": list(self.spec["std"]),
                "preprocess": preprocess,
            },
            sort_keys=True,
            default=str,
        )

    # -- scoring tensors --------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Frozen-backbone features of a batch of model inputs ``(B, 3, H, W)``."""
        return self.detector.backbone(images.to(self.device))

    @torch.no_grad()
    def score_tensors(
        self, images: torch.Tensor | None = None, features: torch.Tensor | None = None
    ) -> dict[str, np.ndarray]:
        """``logit``/``prob`` ``(B,)`` of inputs ``(B, [T,] 3, H, W)`` or ``features``; video mode
        adds ``frame_logit``/``frame_prob`` ``(B, T)``."""
        if features is None and self.frozen and self.mode == "frame":
            assert images is not None, "score_tensors needs images or features"
            features = self.encode(images)
        if features is not None:  # as the evaluator scores a feature bank
            data = {"feature": features.to(self.device), "image": None}
        else:
            assert images is not None, "score_tensors needs images or features"
            data = {"image": images.to(self.device)}
        return pred_scores(forward_batch(self.detector, data, self.amp_dtype))

    # -- scoring RGB frames -----------------------------------------------------------------
    def score_images(
        self, images: Sequence[np.ndarray], batch_size: int = 64
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(logits, probs)`` of ``HxWx3`` uint8 RGB frames (frame-mode detectors), batched."""
        if self.mode != "frame":
            raise ConfigError(
                f"detector '{self.name}' scores clips of {self.clip_size} frames "
                f"(input mode '{self.mode}'); use score_clips"
            )
        logits, probs = [], []
        for start in range(0, len(images), max(1, batch_size)):
            batch = torch.stack(
                [self.preprocess(image) for image in images[start : start + batch_size]]
            )
            out = self.score_tensors(batch)
            logits.append(out["logit"])
            probs.append(out["prob"])
        if not logits:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(logits), np.concatenate(probs)

    def score_clips(
        self, clips: Sequence[Sequence[np.ndarray]], batch_size: int = 8
    ) -> dict[str, np.ndarray]:
        """Video mode: clips of ``T`` RGB frames -> video head ``(N,)``, frame head ``(N, T)``."""
        if self.mode != "video":
            raise ConfigError(f"detector '{self.name}' scores single frames; use score_images")
        parts = []
        for start in range(0, len(clips), max(1, batch_size)):
            batch = torch.stack(
                [
                    torch.stack([self.preprocess(frame) for frame in clip])
                    for clip in clips[start : start + batch_size]
                ]
            )
            parts.append(self.score_tensors(batch))
        return (
            {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
            if parts
            else {}
        )


# -----------------------------------------------------------------------------------------
# scoring a dataset split (robustness)
# -----------------------------------------------------------------------------------------
class _PerturbFirst:
    """A dataset ``transform`` perturbing the decoded frame first; seeds (seed, item, frame)."""

    def __init__(self, transform, perturbation, seed: int):
        self.transform, self.perturbation, self.seed = transform, perturbation, int(seed)
        self.train = bool(getattr(transform, "train", False))  # False: the dataset draws no seed
        self.index, self.position = 0, 0

    def start(self, index: int) -> None:
        self.index, self.position = int(index), 0

    def __call__(self, image, mask=None, landmark=None, seed=None):
        image = self.perturbation(image, seed=[self.seed, self.index, self.position])
        self.position += 1
        return self.transform(image, mask, landmark, seed)


class PerturbedDataset(Dataset):
    """A test ``DeepfakeDataset`` view perturbing decoded frames before preprocessing (no cache)."""

    def __init__(self, dataset, perturbation, seed: int = 0):
        import copy

        if getattr(dataset, "augment", False):
            raise ConfigError(
                "perturb a validation or test dataset (augment=False), not a training one"
            )
        self.base = copy.copy(dataset)
        self.hook = _PerturbFirst(dataset.transform, perturbation, seed)
        self.base.transform = self.hook

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict:
        self.hook.start(index)
        return self.base[index]


def score_dataset(
    scorers: Sequence[Scorer],
    dataset,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
    description: str = "scoring",
) -> list[Predictions]:
    """Score ``dataset`` with each scorer, reading frames once and encoding once per equal
    :meth:`Scorer.encoder_key`; skipped bad frames are left out."""
    from dfshield.data import make_loader

    keys = {scorer.spec_key() for scorer in scorers}
    if len(keys) != 1:
        raise ConfigError("score_dataset needs scorers that prepare frames alike (same input spec)")
    base = dataset.base if isinstance(dataset, PerturbedDataset) else dataset
    labels, video_ids = np.asarray(base.labels), base.video_ids
    loader = make_loader(dataset, batch_size, shuffle=False, num_workers=num_workers)
    results: list[list[tuple[int, list[float], float | None]]] = [[] for _ in scorers]
    for batch in progress_bar(loader, enabled=progress, desc=description, unit="batch"):
        index = [int(i) for i in batch["index"]]
        shared: dict[str, torch.Tensor] = {}
        for scorer, local in zip(scorers, results):
            key = scorer.encoder_key()
            features = None
            if key is not None:
                if key not in shared:
                    shared[key] = scorer.encode(batch["image"])
                features = shared[key]
            local += batch_items(index, scorer.score_tensors(batch["image"], features=features))
    return [assemble(local, labels, video_ids) for local in results]
