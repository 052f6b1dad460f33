"""DemoFaces: a small synthetic deepfake dataset in DeepfakeBench format (``demo-data``).

64×64 one-frame videos, real:fake 10:1 in every split. Every image is rebuilt by a 2× upsampling
generator; fakes add a fixed zero-sum ``ConvTranspose2d`` checkerboard at ``periods`` (8, 16 px;
period 2 would leak through PNG size). PNG length alone gives AUC ~0.55-0.6; frozen tiny random
ViTs + MLP reach 0.92-1.0 at ``strength`` 0.08 (lower it for a harder set).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dfshield.dataset_builder.build_summary import BuildSummary
from dfshield.dataset_builder.dataset_writer import DatasetWriter
from dfshield.dataset_builder.frame_encoding import encode_png
from dfshield.dataset_builder.layout import SPLITS
from dfshield.errors import ConfigError
from dfshield.media.video import sample_frame_indices
from dfshield.progress import progress_bar

DEMO_NAME = "DemoFaces"
DEFAULT_COUNTS: dict[str, tuple[int, int]] = {
    "train": (600, 60),
    "val": (200, 20),
    "test": (200, 20),
}
DEFAULT_STRENGTH = 0.08
DEFAULT_PERIODS = (8, 16)
DEFAULT_NOISE = 0.02
_MARGIN = 4  # extra pixels generated around a scene so multi-frame videos can move a little
_NOISE_SPREAD = (0.2, 3.0)  # per-image noise sigma = noise x U(0.2, 3.0), both classes


# ---------------------------------------------------------------------------------------------
# scenes
# ---------------------------------------------------------------------------------------------
def _colour(rng: np.random.Generator) -> np.ndarray:
    """A natural-ish colour: a grey level plus a moderate chroma offset."""
    grey = rng.uniform(0.15, 0.85)
    chroma = rng.normal(0.0, 0.12, 3)
    return np.clip(grey + chroma - chroma.mean(), 0.0, 1.0).astype(np.float32)


def natural_scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """One procedural scene, float32 RGB in [0, 1], shape (size, size, 3)."""
    s = int(size)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    k = int(rng.integers(2, 6))
    low = np.stack([_colour(rng) for _ in range(k * k)]).reshape(k, k, 3)
    img: np.ndarray = cv2.resize(low, (s, s), interpolation=cv2.INTER_CUBIC)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    img += (np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5))[..., None] * np.float32(
        rng.uniform(-0.4, 0.4)
    )
    for _ in range(int(rng.integers(2, 9))):
        mask = np.zeros((s, s), np.float32)
        colour = _colour(rng)
        cx, cy = (int(v) for v in rng.integers(0, s, 2))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            axes = (int(rng.integers(3, max(4, s // 2))), int(rng.integers(3, max(4, s // 2))))
            cv2.ellipse(
                mask, (cx, cy), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1, cv2.LINE_AA
            )
        elif kind == 1:
            w, h = (int(v) for v in rng.integers(4, max(5, s // 2), 2))
            corners = cv2.boxPoints(((cx, cy), (w, h), float(rng.uniform(0, 90)))).astype(np.int32)
            cv2.fillConvexPoly(mask, corners, 1.0, cv2.LINE_AA)
        else:
            end = tuple(int(v) for v in rng.integers(0, s, 2))
            cv2.line(mask, (cx, cy), end, 1.0, int(rng.integers(1, 5)), cv2.LINE_AA)
        alpha = np.float32(rng.uniform(0.5, 1.0)) * mask[..., None]
        shade = 1.0 + 0.4 * (
            (xx - cx / s) * rng.uniform(-1, 1) + (yy - cy / s) * rng.uniform(-1, 1)
        )
        img = img * (1.0 - alpha) + alpha * colour * shade[..., None].astype(np.float32)
    texture = cv2.GaussianBlur(
        rng.normal(0.0, 1.0, (s, s)).astype(np.float32), (0, 0), rng.uniform(0.5, 1.5)
    )
    img += (texture * np.float32(rng.uniform(0.0, 0.06) / max(float(texture.std()), 1e-6)))[
        ..., None
    ]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the upsampling generator
# ---------------------------------------------------------------------------------------------
class UpsamplerGenerator:
    """Fixed "generator" rebuilding images from 2× down-sampled ones; (N, 3, H, W) in [0, 1].
    ``fake(x)`` adds ``strength`` × zero-sum transposed-conv outputs at the ``periods`` scales."""

    def __init__(
        self,
        seed: int = 0,
        strength: float = DEFAULT_STRENGTH,
        periods: Sequence[int] = DEFAULT_PERIODS,
    ) -> None:
        import torch

        periods = tuple(int(p) for p in periods)
        if not periods or any(p < 2 or p & (p - 1) for p in periods):
            raise ConfigError(
                f"Artefact periods must be powers of two >= 2 (e.g. 8,16), got {periods}."
            )
        if not float(strength) >= 0:
            raise ConfigError(f"Artefact strength must be >= 0, got {strength}.")
        self.strength = float(strength)
        self.periods = periods
        taps = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
        bilinear = np.zeros((3, 3, 4, 4), np.float32)
        for c in range(3):
            bilinear[c, c] = np.outer(taps, taps)
        self._bilinear = torch.from_numpy(bilinear)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xDF5])
        self._random: dict[int, Any] = {}
        for p in sorted(periods):
            weight = rng.normal(0.0, 1.0, (3, 3, 4, 4)).astype(np.float32)
            weight -= weight.mean(axis=(2, 3), keepdims=True)  # zero-sum kernels: no colour cast
            weight /= float(
                np.sqrt(np.mean(weight**2))
            )  # unit RMS: same strength whatever the draw
            self._random[p] = torch.from_numpy(weight)

    @staticmethod
    def _convt(x: Any, weight: Any) -> Any:
        import torch.nn.functional as F

        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        return F.conv_transpose2d(padded, weight, stride=2, padding=1)[:, :, 2:-2, 2:-2]

    def _check(self, x: Any) -> None:
        h, w = x.shape[-2:]
        need = 2 * max(self.periods)
        if h % need or w % need:
            raise ConfigError(
                f"Image size {h}x{w} must be a multiple of {need} for artefact periods "
                f"{self.periods}."
            )

    def real(self, x: Any) -> Any:
        import torch.nn.functional as F

        self._check(x)
        return self._convt(F.avg_pool2d(x, 2), self._bilinear)

    def fake(self, x: Any) -> Any:
        import torch.nn.functional as F

        self._check(x)
        half = F.avg_pool2d(x, 2)
        out = self._convt(half, self._bilinear)
        for period, weight in self._random.items():
            level = period.bit_length() - 2  # period 2 -> 0 extra halvings, 8 -> 2
            r = self._convt(F.avg_pool2d(half, 2**level) if level else half, weight)
            for _ in range(level):
                r = self._convt(r, self._bilinear)
            out = out + self.strength * r
        return out


def _finish(images: Any, rng: np.random.Generator, noise: float) -> np.ndarray:
    """For both classes: Gaussian noise, σ per image in noise × [0.2, 3.0]; uint8 rounding."""
    arr = images.permute(0, 2, 3, 1).numpy()
    sigma = rng.uniform(*_NOISE_SPREAD, (len(arr), 1, 1, 1)).astype(np.float32) * np.float32(noise)
    arr = arr + rng.normal(0.0, 1.0, arr.shape).astype(np.float32) * sigma
    return np.clip(np.round(arr * 255.0), 0, 255).astype(np.uint8)


def generate_images(
    labels: Sequence[int],
    *,
    seed: int = 0,
    size: int = 64,
    strength: float = DEFAULT_STRENGTH,
    periods: Sequence[int] = DEFAULT_PERIODS,
    noise: float = DEFAULT_NOISE,
    frames_per_video: int = 1,
    generator_seed: int | None = None,
    batch: int = 256,
) -> list[list[np.ndarray]]:
    """RGB uint8 frames per label, ``result[i]`` video ``i``'s (one scene, shifted); scenes from
    ``seed``, fake weights from ``generator_seed`` (default ``seed``)."""
    import torch

    gen = UpsamplerGenerator(seed if generator_seed is None else generator_seed, strength, periods)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x5CE])
    noise_rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0x401])
    out: list[list[np.ndarray]] = []
    labels = [int(v) for v in labels]
    with torch.no_grad():
        for start in range(0, len(labels), batch):
            chunk = labels[start : start + batch]
            frames, owners = [], []
            for j, _ in enumerate(chunk):
                scene = natural_scene(rng, size + 2 * _MARGIN)
                for f in range(frames_per_video):
                    dy, dx = (
                        (int(v) for v in rng.integers(0, 2 * _MARGIN + 1, 2))
                        if f
                        else (_MARGIN, _MARGIN)
                    )
                    frames.append(scene[dy : dy + size, dx : dx + size])
                    owners.append(j)
            x = torch.from_numpy(np.ascontiguousarray(np.stack(frames))).permute(0, 3, 1, 2)
            is_fake = torch.tensor([chunk[j] == 1 for j in owners])
            y = torch.empty_like(x)
            if (~is_fake).any():
                y[~is_fake] = gen.real(x[~is_fake])
            if is_fake.any():
                y[is_fake] = gen.fake(x[is_fake])
            images = _finish(y, noise_rng, noise)
            videos: list[list[np.ndarray]] = [[] for _ in chunk]
            for image, j in zip(images, owners):
                videos[j].append(image)
            out.extend(videos)
    return out


# ---------------------------------------------------------------------------------------------
# the dataset
# ---------------------------------------------------------------------------------------------
def _check_counts(counts: dict[str, Sequence[int]]) -> dict[str, tuple[int, int]]:
    unknown = set(counts) - set(SPLITS)
    if unknown:
        raise ConfigError(f"Unknown split(s) {sorted(unknown)} in counts; use {', '.join(SPLITS)}.")
    result = {}
    for split in SPLITS:
        real, fake = (int(v) for v in counts.get(split, (0, 0)))
        if real < 0 or fake < 0:
            raise ConfigError(f"Counts must be >= 0, got {split}={real},{fake}.")
        result[split] = (real, fake)
    if not any(sum(v) for v in result.values()):
        raise ConfigError("The demo dataset would be empty: give at least one real or fake video.")
    return result


def make_demo_dataset(
    out_dir: str | Path,
    seed: int = 0,
    *,
    name: str = DEMO_NAME,
    counts: dict[str, Sequence[int]] | None = None,
    size: int = 64,
    strength: float = DEFAULT_STRENGTH,
    periods: Sequence[int] = DEFAULT_PERIODS,
    noise: float = DEFAULT_NOISE,
    frames_per_video: int = 1,
    overwrite: bool = False,
    progress: bool = False,
) -> BuildSummary:
    """Write the demo dataset (JSON, LMDB, ``deepfakebench.yaml``) under ``out_dir``; its summary.
    ``counts``: ``{split: (real, fake)}``; deterministic per ``seed``."""
    started = time.perf_counter()
    plan = _check_counts(dict(DEFAULT_COUNTS if counts is None else counts))
    if int(size) < 8:
        raise ConfigError(f"Demo image size must be at least 8 pixels, got {size}.")
    if int(frames_per_video) < 1:
        raise ConfigError(f"frames_per_video must be >= 1, got {frames_per_video}.")
    if not float(noise) >= 0:
        raise ConfigError(f"Noise level must be >= 0, got {noise}.")
    UpsamplerGenerator(seed, strength, periods)._check(np.zeros((1, 3, int(size), int(size))))

    # One pool of videos over all splits, in a seeded random order, so that neither the order of
    # writing nor the names (random hex ids from one pool) says anything about the label.
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 0xA5])
    entries = [
        (split, label)
        for split in SPLITS
        for label, n in zip((0, 1), plan[split])
        for _ in range(n)
    ]
    entries = [entries[i] for i in rng.permutation(len(entries))]
    names: set[str] = set()
    while len(names) < len(entries):
        names.add(f"{int(rng.integers(0, 2**32)):08x}")
    video_names = sorted(names)
    video_names = [video_names[i] for i in rng.permutation(len(video_names))]
    indices = sample_frame_indices(32, frames_per_video) if frames_per_video > 1 else [0]

    videos = generate_images(
        [label for _, label in entries],
        seed=seed,
        size=int(size),
        strength=strength,
        periods=periods,
        noise=noise,
        frames_per_video=int(frames_per_video),
    )
    with DatasetWriter(out_dir, name, overwrite=overwrite) as writer:
        for (split, label), video, frames in progress_bar(
            list(zip(entries, video_names, videos)),
            enabled=progress,
            desc=f"demo {name}",
            unit="video",
            file=sys.stderr,
        ):
            writer.add_video(
                video, label, [(i, encode_png(f)) for i, f in zip(indices, frames)], split=split
            )
        summary = writer.close()
    summary.seconds = time.perf_counter() - started
    summary.notes = [
        f"synthetic images {size}x{size}; fakes carry a fixed random transposed-convolution "
        f"upsampler artefact (strength {strength}, periods {tuple(periods)} px); "
        f"generator seed {seed}",
    ]
    return summary
