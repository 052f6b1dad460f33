"""The augmentation pipeline is the same under albumentations 1.3.x and 2.x.

These tests run under whichever major is installed; ``scripts/ci/albumentations1.sh`` runs them
again under 1.3.1 in a throw-away environment. Parameters are read under either major's
attribute names, so a config value that does not reach its transform fails under both.
"""

import pickle
import random
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dfshield.data import AugmentConfig, augment, build_compose
from dfshield.data.augment import BLUR_SIGMA_RANGE, FrameTransform

A = augment._albumentations()  # imported as the pipeline imports it (no update check)
MAJOR = int(A.__version__.split(".")[0])
RES = 16
CONFIG = AugmentConfig(
    flip_prob=0.3,
    rotate_prob=0.4,
    rotate_limit=(-7, 12),
    blur_prob=0.25,
    blur_limit=(3, 5),
    brightness_contrast_prob=0.6,
    brightness_limit=(-0.2, 0.15),
    contrast_limit=(-0.05, 0.3),
    jpeg_prob=0.7,
    quality_range=(35, 85),
)


def by_name(compose):
    """The transforms of ``compose`` by class name, ``OneOf`` children as one list."""
    found = {}
    for t in compose.transforms:
        found[type(t).__name__] = list(t.transforms) if isinstance(t, A.OneOf) else t
    return found


def quality_range(t):
    return tuple(t.quality_range) if MAJOR >= 2 else (t.quality_lower, t.quality_upper)


def border_fill(t):
    return (t.fill, t.fill_mask) if MAJOR >= 2 else (t.value, t.mask_value)


def frame(height, width, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    mask = (rng.random((height, width)) > 0.5).astype(np.uint8) * 255
    landmark = rng.uniform(0, min(height, width), (5, 2)).astype(np.float32)
    return image, mask, landmark


def test_nothing_to_do_imports_no_albumentations():
    # a frozen backbone's extraction neither augments nor resizes here: the seconds that
    # importing albumentations takes would be spent for nothing
    code = (
        "import sys\n"
        "from dfshield.data import DeepfakeDataset\n"
        "from dfshield.data.augment import FrameTransform\n"
        "assert FrameTransform(None, 224, train=False, resize=False).compose is None\n"
        "assert 'albumentations' not in sys.modules, 'imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_albumentations_major_is_supported():
    assert MAJOR in (1, 2), A.__version__


def test_config_parameters_reach_their_transforms():
    ops = by_name(build_compose(CONFIG, RES, train=True))
    assert list(ops) == [
        "HorizontalFlip",
        "Rotate",
        "GaussianBlur",
        "OneOf",
        "PadIfNeeded",
        "RandomBrightnessContrast",
        "ImageCompression",
        "Resize",
    ]
    assert ops["HorizontalFlip"].p == pytest.approx(0.3)
    rotate = ops["Rotate"]
    assert tuple(rotate.limit) == (-7, 12) and rotate.p == pytest.approx(0.4)
    assert rotate.border_mode == cv2.BORDER_CONSTANT and border_fill(rotate) == (0, 0)
    blur = ops["GaussianBlur"]
    assert tuple(blur.blur_limit) == (3, 5) and blur.p == pytest.approx(0.25)
    assert tuple(blur.sigma_limit) == BLUR_SIGMA_RANGE
    pad = ops["PadIfNeeded"]
    assert (pad.min_height, pad.min_width) == (RES, RES) and border_fill(pad) == (0, 0)
    colour = ops["RandomBrightnessContrast"]
    assert tuple(colour.brightness_limit) == pytest.approx((-0.2, 0.15))
    assert tuple(colour.contrast_limit) == pytest.approx((-0.05, 0.3))
    assert colour.p == pytest.approx(0.6)
    jpeg = ops["ImageCompression"]
    assert quality_range(jpeg) == (35, 85) and jpeg.p == pytest.approx(0.7)
    resize = ops["Resize"]
    assert (resize.height, resize.width, resize.interpolation) == (RES, RES, cv2.INTER_CUBIC)
    assert [t.max_size for t in ops["OneOf"]] == [RES] * 3


@pytest.mark.parametrize(
    ("shape", "interpolations"),
    [
        ((48, 32), [cv2.INTER_AREA, cv2.INTER_AREA, cv2.INTER_LINEAR]),  # shrinking
        ((8, 6), [cv2.INTER_CUBIC, cv2.INTER_LINEAR, cv2.INTER_LINEAR]),  # enlarging
    ],
)
def test_isotropic_resize_options_are_deepfakebenchs(shape, interpolations):
    """Area/cubic, area/linear and linear/linear for down/up-scaling; masks nearest."""
    only_resize = AugmentConfig(flip_prob=0, blur_prob=0, brightness_contrast_prob=0, jpeg_prob=0)
    options = by_name(build_compose(only_resize, RES, train=True, resize=False))["OneOf"]
    image, mask, _ = frame(*shape)
    scale = RES / max(shape)
    size = (round(shape[1] * scale), round(shape[0] * scale))  # cv2's (width, height)
    for option, interpolation in zip(options, interpolations, strict=True):
        out = A.Compose([option])(image=image, mask=mask)
        np.testing.assert_array_equal(
            out["image"], cv2.resize(image, size, interpolation=interpolation)
        )
        np.testing.assert_array_equal(
            out["mask"], cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
        )


def test_seeded_augmentation_is_deterministic_and_leaves_global_random_alone():
    transform = FrameTransform(CONFIG, RES, train=True, with_keypoints=True)
    image, mask, landmark = frame(40, 30)
    py_state, np_state = random.getstate(), np.random.get_state()
    outputs = []
    for seed in range(8):
        first = transform(image, mask, landmark, seed=seed)
        again = transform(image, mask, landmark, seed=seed)
        for a, b in zip(first, again, strict=True):
            np.testing.assert_array_equal(a, b)
        outputs.append(first[0])
    assert len({o.tobytes() for o in outputs}) > 1  # the seed drives the augmentation
    assert random.getstate() == py_state
    np.testing.assert_array_equal(np.random.get_state()[1], np_state[1])


@pytest.mark.parametrize("train", [True, False])
def test_output_shapes_and_dtypes_are_what_the_dataset_expects(train):
    transform = FrameTransform(CONFIG, RES, train=train, with_keypoints=True)
    image, mask, landmark = frame(40, 30)
    out_image, out_mask, out_landmark = transform(image, mask, landmark, seed=3)
    assert out_image.shape == (RES, RES, 3) and out_image.dtype == np.uint8
    assert out_mask.shape == (RES, RES) and out_mask.dtype == np.uint8
    assert out_landmark.shape == (5, 2) and out_landmark.dtype == np.float32
    if not train:
        np.testing.assert_array_equal(
            out_image, cv2.resize(image, (RES, RES), interpolation=cv2.INTER_CUBIC)
        )


def test_transform_pickles_for_spawned_workers():
    transform = FrameTransform(CONFIG, RES, train=True, with_keypoints=True)
    clone = pickle.loads(pickle.dumps(transform))
    image, mask, landmark = frame(40, 30)
    for seed in range(4):
        for a, b in zip(
            transform(image, mask, landmark, seed=seed),
            clone(image, mask, landmark, seed=seed),
            strict=True,
        ):
            np.testing.assert_array_equal(a, b)
