"""Per-frame transforms: train-time augmentation (albumentations 1.3.x or 2.x) and the final resize.

Training frames: DeepfakeBench's order, then a bicubic square resize; val/test: the resize only.
Both majors build the same pipeline (DeepfakeBench envs need 1.x) via one compat function per
renamed argument; their random draws differ. All frames of a clip share one seed.
"""

from __future__ import annotations

import functools
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from dfshield.data.config import AugmentConfig

# albumentations 2.x asks a web server for updates when imported; a data loader should not.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

#: Standard deviation range (pixels) of the Gaussian blur. Explicit because the two majors
#: default differently (1.x derives sigma from the kernel size, which 2.x cannot express);
#: this is 2.x's default, the behaviour dfshield has always had.
BLUR_SIGMA_RANGE = (0.5, 3.0)


def _albumentations() -> Any:
    import albumentations as A

    return A


def _major() -> int:
    """The installed albumentations major version: 1 or 2."""
    return int(_albumentations().__version__.split(".")[0])


# --- compatibility layer: one function per transform whose arguments differ in 1.x and 2.x ---


def _constant_border(value: int) -> dict[str, int]:
    """Constant border fill for image and mask (1.x ``value``/``mask_value``, 2.x ``fill``)."""
    if _major() < 2:
        return {"value": value, "mask_value": value}
    return {"fill": value, "fill_mask": value}


def _jpeg_compression(quality_range: tuple[int, int], p: float) -> Any:
    """JPEG re-compression at a quality drawn from ``quality_range`` (ends included)."""
    A = _albumentations()
    low, high = quality_range
    if _major() < 2:
        return A.ImageCompression(quality_lower=low, quality_upper=high, p=p)
    return A.ImageCompression(quality_range=(low, high), p=p)


def _longest_max_size(max_size: int, interpolation: int, area_for_downscale: bool) -> Any:
    """Resize the longest side to ``max_size``, with area interpolation when shrinking if asked."""
    A = _albumentations()
    if not area_for_downscale:
        return A.LongestMaxSize(max_size=max_size, interpolation=interpolation)
    if _major() >= 2:
        return A.LongestMaxSize(
            max_size=max_size, interpolation=interpolation, area_for_downscale="image"
        )
    return _longest_max_size_area_down_1x()(max_size=max_size, interpolation=interpolation)


@functools.cache
def _longest_max_size_area_down_1x() -> type:
    """1.x ``LongestMaxSize`` with area-down (made on first use: albumentations loads lazily)."""
    import cv2

    A = _albumentations()
    base: Any = A.LongestMaxSize  # a class known only once albumentations is imported

    class LongestMaxSizeAreaDown(base):
        def apply(self, img: np.ndarray, max_size: int = 1024, **params: Any) -> np.ndarray:
            if max(img.shape[:2]) > max_size:
                params["interpolation"] = cv2.INTER_AREA
            return super().apply(img, max_size=max_size, **params)

        def apply_to_mask(self, img: np.ndarray, **params: Any) -> np.ndarray:
            params["interpolation"] = cv2.INTER_NEAREST
            return A.LongestMaxSize.apply(self, img, **params)

        def __reduce__(self) -> tuple[Any, ...]:
            # a class made inside a function cannot be pickled by name; spawned DataLoader
            # workers rebuild it through the module-level function instead
            return (_longest_max_size, (self.max_size, self.interpolation, True), self.__dict__)

    return LongestMaxSizeAreaDown


@contextmanager
def _seeded(compose: Any, seed: int) -> Iterator[None]:
    """Make ``compose``'s draws come from ``seed`` (1.x: global states, seeded then restored)."""
    if _major() >= 2:
        compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
        yield
        return
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


# --- the pipeline ---


def build_compose(
    aug: AugmentConfig | None,
    resolution: int | None,
    *,
    train: bool,
    resize: bool = True,
    with_keypoints: bool = False,
) -> Any | None:
    """One frame's ``albumentations.Compose``, or None; ``aug`` applies only when ``train``.

    Landmarks are ``xy`` keypoints, kept when they leave the image.
    """
    if not (train and aug is not None and aug.enabled):
        aug = None
    if aug is None and not (resize and resolution):
        return None  # and albumentations, seconds to import, is not imported (extraction)
    import cv2

    A = _albumentations()
    ops: list[Any] = []
    if aug is not None:
        if aug.flip_prob > 0:
            ops.append(A.HorizontalFlip(p=aug.flip_prob))
        if aug.rotate_prob > 0:
            ops.append(
                A.Rotate(
                    limit=aug.rotate_limit,
                    border_mode=cv2.BORDER_CONSTANT,
                    p=aug.rotate_prob,
                    **_constant_border(0),
                )
            )
        if aug.blur_prob > 0:
            ops.append(
                A.GaussianBlur(
                    blur_limit=aug.blur_limit, sigma_limit=BLUR_SIGMA_RANGE, p=aug.blur_prob
                )
            )
        if aug.isotropic_resize and resolution:
            ops.append(
                A.OneOf(
                    [
                        _longest_max_size(resolution, cv2.INTER_CUBIC, area_for_downscale=True),
                        _longest_max_size(resolution, cv2.INTER_LINEAR, area_for_downscale=True),
                        _longest_max_size(resolution, cv2.INTER_LINEAR, area_for_downscale=False),
                    ],
                    p=1.0,
                )
            )
            ops.append(
                A.PadIfNeeded(
                    min_height=resolution,
                    min_width=resolution,
                    border_mode=cv2.BORDER_CONSTANT,
                    **_constant_border(0),
                )
            )
        if aug.brightness_contrast_prob > 0:
            ops.append(
                A.RandomBrightnessContrast(
                    brightness_limit=aug.brightness_limit,
                    contrast_limit=aug.contrast_limit,
                    p=aug.brightness_contrast_prob,
                )
            )
        if aug.jpeg_prob > 0:
            ops.append(_jpeg_compression(aug.quality_range, p=aug.jpeg_prob))
    if resize and resolution:
        ops.append(A.Resize(height=resolution, width=resolution, interpolation=cv2.INTER_CUBIC))
    if not ops:
        return None
    keypoint_params = (
        A.KeypointParams(format="xy", remove_invisible=False) if with_keypoints else None
    )
    return A.Compose(ops, keypoint_params=keypoint_params)


def new_seed() -> int:
    """A seed for one sample, drawn from torch's (worker-seeded) generator."""
    return int(torch.randint(0, 2**31 - 1, (1,)).item())


class FrameTransform:
    """Apply :func:`build_compose`'s pipeline to an image with optional mask and landmarks."""

    def __init__(
        self,
        aug: AugmentConfig | None,
        resolution: int | None,
        *,
        train: bool,
        resize: bool = True,
        with_keypoints: bool = False,
    ):
        self.train = bool(train and aug is not None and aug.enabled)
        self.resolution = resolution
        self.compose = build_compose(
            aug, resolution, train=train, resize=resize, with_keypoints=with_keypoints
        )

    def __call__(
        self,
        image: np.ndarray,
        mask: np.ndarray | None = None,
        landmark: np.ndarray | None = None,
        seed: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The transformed ``(image, mask, landmark)``; equal ``seed`` means equal parameters."""
        if self.compose is None:
            return image, mask, landmark
        kwargs: dict[str, Any] = {"image": image}
        if mask is not None:
            kwargs["mask"] = mask
        if landmark is not None:
            kwargs["keypoints"] = np.asarray(landmark, dtype=np.float32)
        if self.train:
            with _seeded(self.compose, new_seed() if seed is None else seed):
                out = self.compose(**kwargs)
        else:
            out = self.compose(**kwargs)
        new_landmark = None
        if landmark is not None:
            new_landmark = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 2)
        return out["image"], (out["mask"] if mask is not None else None), new_landmark
