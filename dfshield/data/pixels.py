"""Pixels on their way from the loader to the model: uint8 in the workers, float on the device.

A float32 frame is four times the bytes of the uint8 frame it comes from, and every byte crosses
the DataLoader's shared memory, the pinned-memory copy and the host-to-device copy. So a dataset
built with ``pixels="uint8"`` does in its workers only what needs the frame as an image
(decoding, augmentation, resizing, cropping) and hands over ``(3, H, W)`` uint8 tensors; the
division by 255 and the per-channel mean/std normalisation run on a whole batch on the device
(:class:`DeviceNormalizer`), with the float32 operations of torchvision's ``ToTensor`` +
``Normalize``.

A frozen backbone's own preprocessing (open_clip's transform) is split the same way
(:class:`FramePreprocess`): its resize and centre crop run in the workers on uint8, its
``ToTensor`` + ``Normalize`` on the device (to the bit). The resize runs torch's antialiased
uint8 kernel instead of PIL's, 5-8x cheaper; it differs from PIL by at most 2 levels on under
1 % of pixels (docs/benchmarks.md has the numbers). Steps without a torch kernel stay PIL. A
transform that cannot be split (no ``ToTensor`` at the end) still runs whole in the workers and
its float tensors pass through :class:`DeviceNormalizer` unchanged.
"""

from __future__ import annotations

import math
import threading
import weakref
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
    """Float32 host tensors for whole batches, each handed out again once no tensor uses it.

    A batch of 64 224² frames is 38 MB of float32: glibc maps such a block fresh for every batch
    and unmaps it when freed, so each batch page-faults all of it in again, which on a CPU costs
    more than the normalisation itself (what the CUDA caching allocator spares the GPU). Each
    block is a NumPy array handed out through a view of its own that the tensor's storage holds,
    so the view dies only when every tensor on that storage has: then the block is free. At
    most :attr:`KEEP` blocks are kept; beyond them a tensor is allocated as usual."""

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


class _TorchSteps:
    """torchvision ``Resize`` (bilinear or bicubic, antialiased as PIL always is) and
    ``CenterCrop`` run on the uint8 frame with torch's kernels (``transforms.v2``'s, whose size
    and crop arithmetic is the PIL path's): the resize half of open_clip's transform without PIL's
    resize, which costs as much as decoding the frame. See the module docstring for how far the
    pixels are from PIL's."""

    def __init__(self, steps: Sequence[Any]):
        self.steps = list(steps)

    @classmethod
    def of(cls, steps: Sequence[Any]) -> _TorchSteps | None:
        """The steps, if each has a torch kernel (open_clip's ``MaybeConvertMode("RGB")`` is
        the identity on RGB frames); else None."""
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
        from torchvision.transforms import CenterCrop, Resize
        from torchvision.transforms.v2.functional import center_crop_image, resize_image

        hwc = np.require(rgb, requirements=("C", "W"))
        image = torch.from_numpy(hwc).permute(2, 0, 1)  # (3, H, W)
        for step in self.steps:
            if isinstance(step, Resize):
                size = [step.size] if isinstance(step.size, int) else list(step.size)
                image = resize_image(image, size, step.interpolation, step.max_size, True)
            elif isinstance(step, CenterCrop):
                image = center_crop_image(image, list(step.size))
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
