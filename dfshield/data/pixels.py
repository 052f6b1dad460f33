"""Pixels from loader to model: uint8 in the workers, float on the device.

Why uint8: a float32 frame is 4x the bytes, and every byte crosses the DataLoader's shared memory
and the host-to-device copy. ``pixels="uint8"`` datasets decode, augment, resize and crop in the
workers; :class:`DeviceNormalizer` does ``ToTensor`` + ``Normalize`` on a whole batch on the device.
A backbone's transform is split the same way (:class:`FramePreprocess`). Its resize uses torch's
antialiased uint8 kernel, not PIL's: 5-8x cheaper, at most 2 levels off on under 1 % of pixels
(docs/benchmarks.md); steps with no torch kernel stay PIL; unsplittable transforms run whole."""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch


def normalizer(mean: Sequence[float], std: Sequence[float]) -> Callable[[np.ndarray], torch.Tensor]:
    """``HxWx3 uint8 -> (3, H, W) float32`` ``(x / 255 - mean) / std`` for ``pixels="float"``, in
    NumPy: torch's intra-op pool is slow on small tensors when the main process loads data."""
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
    """uint8 frames ``(..., 3, H, W)`` → float32 on the device, ``(x / 255 - mean) / std`` in
    the order and dtype of ``ToTensor`` + ``Normalize``. Float input (normalised) is only moved."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self._stats: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}
        self._blocks = HostBlocks()

    def __call__(
        self, images: torch.Tensor, device: torch.device | str | None = None
    ) -> torch.Tensor:
        """``images`` on ``device`` (default: where they are), normalised if they are uint8."""
        images = images.to(images.device if device is None else device, non_blocking=True)
        if images.dtype != torch.uint8:
            return images
        mean, std = self._on(images.device)
        # contiguous float32 whatever the uint8 batch's strides (a loader's are channels-last)
        if images.device.type == "cpu":
            floats = self._blocks.empty(images.shape)
        else:
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


class HostBlocks:
    """Float32 host blocks for whole batches, reused once no tensor uses them (at most ``KEEP``).

    glibc maps a 38 MB batch fresh each time and page-faults it all in again, costing more on a CPU
    than the normalisation. Each block goes out through a view the tensor's storage holds, so it is
    free again when the last tensor on it dies."""

    KEEP = 2

    def __init__(self) -> None:
        self._blocks: list[tuple[np.ndarray, weakref.ref | None]] = []
        self._lock = threading.Lock()

    def empty(self, shape: Sequence[int]) -> torch.Tensor:
        """An uninitialised contiguous float32 tensor of ``shape``."""
        size = math.prod(shape)
        with self._lock:
            free = [i for i, (_, user) in enumerate(self._blocks) if user is None or user() is None]
            fits = [i for i in free if self._blocks[i][0].size >= size]
            if fits:
                at = fits[0]
            elif free or len(self._blocks) < self.KEEP:  # replace a free block that is too small
                at = free[0] if free else len(self._blocks)
                self._blocks[at : at + 1] = [(np.empty(size, np.float32), None)]
            else:
                return torch.empty(tuple(shape), dtype=torch.float32)
            view = self._blocks[at][0][:size].reshape(tuple(shape))
            self._blocks[at] = (self._blocks[at][0], weakref.ref(view))
        return torch.from_numpy(view)

    def __reduce__(self) -> tuple[Any, ...]:  # a copy (DataLoader workers) starts empty
        return (HostBlocks, ())


class FramePreprocess:
    """A backbone's preprocessing of one frame in two halves: ``resize`` (``HxWx3`` uint8 →
    ``H'xW'x3`` uint8, in the workers) and ``mean``/``std`` (on the device). Calling it runs both on
    one frame: the ``(3, H', W')`` float32 a loader batch gets (the ``predict`` scorer's path)."""

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
    """Adapt a PIL-image transform (e.g. open_clip's) to the dataset's ``HxWx3`` uint8 arrays.
    A ``Compose`` ending in ``ToTensor`` (+ at most one ``Normalize``) comes back as a
    :class:`FramePreprocess`, so ``pixels="uint8"`` normalises on the device; others apply whole."""
    split = _split_compose(transform)
    if split is not None:
        return split

    def apply(image: np.ndarray) -> torch.Tensor:
        from PIL import Image

        return transform(Image.fromarray(image))

    apply.__wrapped__ = transform  # type: ignore[attr-defined]
    return apply


class _PilSteps:
    """PIL steps (resize, crop, mode conversion) on a uint8 RGB array, returning one."""

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


class _TorchSteps:
    """torchvision ``Resize`` (bilinear/bicubic, antialiased) and ``CenterCrop`` on the uint8
    frame with ``transforms.v2``'s kernels, whose sizes are PIL's (module docstring: why)."""

    def __init__(self, steps: Sequence[Any]):
        from torchvision.transforms import CenterCrop, Resize
        from torchvision.transforms.v2.functional import center_crop_image, resize_image

        # each step's kernel with its arguments, resolved once (a frame only runs them)
        self.kernels: list[Callable[[torch.Tensor], torch.Tensor]] = []
        for step in steps:
            if isinstance(step, Resize):
                size = [step.size] if isinstance(step.size, int) else list(step.size)
                self.kernels.append(
                    partial(
                        resize_image,
                        size=size,
                        interpolation=step.interpolation,
                        max_size=step.max_size,
                        antialias=True,
                    )
                )
            elif isinstance(step, CenterCrop):
                self.kernels.append(partial(center_crop_image, output_size=list(step.size)))

    @classmethod
    def of(cls, steps: Sequence[Any]) -> _TorchSteps | None:
        """The steps if each has a torch kernel (``MaybeConvertMode("RGB")`` is one), else None."""
        from torchvision.transforms import CenterCrop, InterpolationMode, Resize

        def runs(step: Any) -> bool:
            if isinstance(step, Resize):
                modes = (InterpolationMode.BILINEAR, InterpolationMode.BICUBIC)
                return step.interpolation in modes
            if type(step).__name__ == "MaybeConvertMode":
                return getattr(step, "mode", None) == "RGB"
            return isinstance(step, CenterCrop)

        return cls(steps) if steps and all(runs(step) for step in steps) else None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        hwc = np.require(rgb, requirements=("C", "W"))
        image = torch.from_numpy(hwc).permute(2, 0, 1)  # (3, H, W)
        for kernel in self.kernels:
            image = kernel(image)
        return image.permute(1, 2, 0).numpy()

    def __repr__(self) -> str:
        return "torch uint8 resize/crop"


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
        given_mean, given_std = _three(tail[0].mean), _three(tail[0].std)
        if given_mean is None or given_std is None:
            return None
        mean, std = given_mean, given_std
    resize = _TorchSteps.of(steps[:at]) or _PilSteps(steps[:at])
    return FramePreprocess(resize, mean, std, f"{transform!r} via {resize!r}")


def _three(values: Any) -> tuple[float, float, float] | None:
    """Per-channel statistics as three floats (one value is repeated); None for another count."""
    flat = [float(v) for v in torch.as_tensor(values, dtype=torch.float64).flatten()]
    if len(flat) == 1:
        flat *= 3
    return (flat[0], flat[1], flat[2]) if len(flat) == 3 else None
