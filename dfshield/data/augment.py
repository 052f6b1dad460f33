"""Per-frame transforms: train-time augmentation (albumentations 2.x) and the final resize.

The pipeline of a training frame, in DeepfakeBench's order: horizontal flip, rotation, Gaussian
blur, isotropic resize (longest side to the detector's resolution, random interpolation, padded
to a square), brightness/contrast, JPEG re-compression (``quality_range``), then a resize to
``resolution x resolution`` (bicubic, as DeepfakeBench's loader). Validation and test frames get
only the final resize. Masks and landmarks follow the geometric operations.

Randomness: each call draws a fresh seed from ``torch``'s generator (seeded per DataLoader
worker by PyTorch), so workers do not repeat each other; all frames of one clip share a seed and
therefore the same augmentation.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch

from dfshield.data.config import AugmentConfig

# albumentations 2.x asks a web server for updates when imported; a data loader should not.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def _albumentations() -> Any:
    import albumentations as A

    return A


def build_compose(
    aug: AugmentConfig | None,
    resolution: int | None,
    *,
    train: bool,
    resize: bool = True,
    with_keypoints: bool = False,
) -> Any | None:
    """An ``albumentations.Compose`` for one frame, or ``None`` when there is nothing to do.

    Args:
        aug: augmentation options; ignored unless ``train`` (``None`` or ``enabled: false``: none).
        resolution: the detector's input size (target of the isotropic resize and the final
            square resize).
        train: apply the augmentation operations.
        resize: end with the square resize (off when a ``preprocess`` callable resizes instead).
        with_keypoints: landmarks are passed as ``keypoints`` (``xy``; points leaving the image
            are kept, so their number never changes).
    """
    import cv2

    A = _albumentations()
    ops: list[Any] = []
    if train and aug is not None and aug.enabled:
        if aug.flip_prob > 0:
            ops.append(A.HorizontalFlip(p=aug.flip_prob))
        if aug.rotate_prob > 0:
            ops.append(
                A.Rotate(limit=aug.rotate_limit, border_mode=cv2.BORDER_CONSTANT, p=aug.rotate_prob)
            )
        if aug.blur_prob > 0:
            ops.append(A.GaussianBlur(blur_limit=aug.blur_limit, p=aug.blur_prob))
        if aug.isotropic_resize and resolution:
            ops.append(
                A.OneOf(
                    [
                        A.LongestMaxSize(
                            max_size=resolution,
                            interpolation=cv2.INTER_CUBIC,
                            area_for_downscale="image",
                        ),
                        A.LongestMaxSize(
                            max_size=resolution,
                            interpolation=cv2.INTER_LINEAR,
                            area_for_downscale="image",
                        ),
                        A.LongestMaxSize(max_size=resolution, interpolation=cv2.INTER_LINEAR),
                    ],
                    p=1.0,
                )
            )
            ops.append(
                A.PadIfNeeded(
                    min_height=resolution,
                    min_width=resolution,
                    border_mode=cv2.BORDER_CONSTANT,
                    fill=0,
                    fill_mask=0,
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
            ops.append(A.ImageCompression(quality_range=aug.quality_range, p=aug.jpeg_prob))
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
        """Return the transformed ``(image, mask, landmark)``; equal ``seed`` means equal params."""
        if self.compose is None:
            return image, mask, landmark
        if self.train:
            seed = new_seed() if seed is None else seed
            self.compose.set_random_state(np.random.default_rng(seed), random.Random(seed))
        kwargs: dict[str, Any] = {"image": image}
        if mask is not None:
            kwargs["mask"] = mask
        if landmark is not None:
            kwargs["keypoints"] = np.asarray(landmark, dtype=np.float32)
        out = self.compose(**kwargs)
        new_landmark = None
        if landmark is not None:
            new_landmark = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 2)
        return out["image"], (out["mask"] if mask is not None else None), new_landmark
