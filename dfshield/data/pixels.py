"""Pixels on their way from the loader to the model: uint8 in the workers, float on the device.

A float32 frame is four times the bytes of the uint8 frame it comes from, and every byte crosses
the DataLoader's shared memory, the pinned-memory copy and the host-to-device copy. So a dataset
built with ``pixels="uint8"`` does in its workers only what needs the frame as an image
(decoding, augmentation, resizing, cropping) and hands over ``(3, H, W)`` uint8 tensors; the
division by 255 and the per-channel mean/std normalisation run on a whole batch on the device
(:class:`DeviceNormalizer`), with the float32 operations of torchvision's ``ToTensor`` +
``Normalize``.

A frozen backbone's own preprocessing (open_clip's transform) is split the same way
(:class:`FramePreprocess`): its PIL resize and centre crop run in the workers on uint8, its
``ToTensor`` + ``Normalize`` on the device, so the model sees the tensor the whole transform
gives (to the bit on the CPU). A transform that cannot be split (no ``ToTensor`` at the end)
still runs whole in the workers and its float tensors pass through :class:`DeviceNormalizer`
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch


def normalizer(mean: Sequence[float], std: Sequence[float]) -> Callable[[np.ndarray], torch.Tensor]:
    """``HxWx3 uint8 -> (3, H, W) float32``: ``(x / 255 - mean) / std``, computed in NumPy —
    independent of torch's intra-op thread pool, which is slow for small tensors when the main
    process loads data (``num_workers = 0``). One frame at a time, for ``pixels="float"``."""
    scale = np.array([1.0 / (255.0 * s) for s in std], dtype=np.float32)
    offset = np.array([m / s for m, s in zip(mean, std)], dtype=np.float32)

    def normalize(image: np.ndarray) -> torch.Tensor:
        array = image.astype(np.float32)
        array *= scale
        array -= offset
        return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))

    return normalize


def to_chw(image: np.ndarray) -> torch.Tensor:
    """``HxWx3 uint8`` array → ``(3, H, W)`` uint8 tensor (no copy of the pixels)."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)


class DeviceNormalizer:
    """A batch of uint8 frames ``(..., 3, H, W)`` → float32 on the device:
    ``(x / 255 - mean) / std`` per channel, in the order and dtype of ``ToTensor`` +
    ``Normalize``. Float input (frames a preprocessing already normalised) is only moved.

    Args:
        mean, std: per-channel statistics of ``[0, 1]`` RGB.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(
        self, images: torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``images`` on ``device`` (default: where they are), normalised if they are uint8."""
        images = images.to(images.device if device is None else device, non_blocking=True)
        if images.dtype != torch.uint8:
            return images
        mean, std = self._on(images.device)
        # contiguous float32 whatever the uint8 batch's strides (a loader's are channels-last)
        floats = torch.empty(images.shape, dtype=torch.float32, device=images.device)
        return floats.copy_(images).div_(255).sub_(mean).div_(std)

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._stats:
            self._stats[device] = (
                torch.tensor(self.mean, device=device).view(3, 1, 1),
                torch.tensor(self.std, device=device).view(3, 1, 1),
            )
        return self._stats[device]

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers get no device tensors
        return {**self.__dict__, "_stats": {}}

    def __repr__(self) -> str:
        return f"DeviceNormalizer(mean={self.mean}, std={self.std})"


class FramePreprocess:
    """A backbone's own preprocessing of one frame, in the two halves the loader runs apart.

    Args:
        resize: ``HxWx3`` uint8 RGB → ``H'xW'x3`` uint8 RGB (resize, crop; in the workers).
        mean, std: the normalisation that follows (on the device, :class:`DeviceNormalizer`).
        description: what it does, for ``repr`` (fingerprints).

    Calling it runs both halves on one frame (``(3, H', W')`` float32), as the scorer of
    ``predict`` does: the same tensor a loader batch gets.
    """

    def __init__(
        self,
        resize: Callable[[np.ndarray], np.ndarray],
        mean: Sequence[float],
        std: Sequence[float],
        description: str = "",
    ):
        self.resize = resize
        self.normalizer = DeviceNormalizer(mean, std)
        self.description = description or repr(resize)

    @property
    def mean(self) -> tuple[float, ...]:
        return self.normalizer.mean

    @property
    def std(self) -> tuple[float, ...]:
        return self.normalizer.std

    def __call__(self, rgb: np.ndarray) -> torch.Tensor:
        return self.normalizer(to_chw(self.resize(rgb))[None])[0]

    def __repr__(self) -> str:
        return self.description


def pil_preprocess(
    transform: Callable[[Any], torch.Tensor],
) -> Callable[[np.ndarray], torch.Tensor]:
    """Adapt a transform that expects a PIL image (e.g. open_clip's preprocessing) to the
    ``HxWx3`` uint8 RGB arrays that ``DeepfakeDataset(preprocess=...)`` passes.

    A torchvision ``Compose`` that ends with ``ToTensor`` (and at most one ``Normalize``) comes
    back as a :class:`FramePreprocess`: the steps before ``ToTensor`` are its resize half, so a
    ``pixels="uint8"`` loader normalises on the device. Any other transform is applied whole.
    """
    split = _split_compose(transform)
    if split is not None:
        return split

    def apply(image: np.ndarray) -> torch.Tensor:
        from PIL import Image

        return transform(Image.fromarray(image))

    apply.__wrapped__ = transform  # type: ignore[attr-defined]
    return apply


class _PilSteps:
    """PIL steps (resize, crop, mode conversion) on a uint8 RGB array, returning one: the resize
    half of a :class:`FramePreprocess` made from a torchvision ``Compose``."""

    def __init__(self, steps: Sequence[Callable[[Any], Any]]):
        self.steps = list(steps)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from PIL import Image

        image = Image.fromarray(rgb)
        for step in self.steps:
            image = step(image)
        return np.array(image.convert("RGB") if image.mode != "RGB" else image)  # writable

    def __repr__(self) -> str:
        return f"_PilSteps({self.steps})"


def _split_compose(transform: Any) -> FramePreprocess | None:
    """``Compose([...steps, ToTensor, Normalize?])`` as a :class:`FramePreprocess`, or None."""
    from torchvision import transforms as T

    steps = getattr(transform, "transforms", None)
    if not isinstance(transform, T.Compose) or not steps:
        return None
    at = next((i for i, step in enumerate(steps) if isinstance(step, T.ToTensor)), None)
    if at is None:
        return None
    tail = steps[at + 1 :]
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    if tail:
        if len(tail) != 1 or not isinstance(tail[0], T.Normalize):
            return None
        mean, std = _three(tail[0].mean), _three(tail[0].std)
        if mean is None or std is None:
            return None
    return FramePreprocess(_PilSteps(steps[:at]), mean, std, repr(transform))


def _three(values: Any) -> tuple[float, float, float] | None:
    """Per-channel statistics as three floats (one value is repeated); None for another count."""
    flat = [float(v) for v in torch.as_tensor(values, dtype=torch.float64).flatten()]
    if len(flat) == 1:
        flat *= 3
    return (flat[0], flat[1], flat[2]) if len(flat) == 3 else None
