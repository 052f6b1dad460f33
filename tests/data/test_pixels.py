"""uint8 frames from the loader, normalised in batch on the device: the model input must be the
tensor that normalising each frame on its own gives (dfshield/data/pixels.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from dfshield.backbones.clip import ClipBackbone
from dfshield.config import load_run_config
from dfshield.data import DeepfakeDataset, DeviceNormalizer, FramePreprocess, pil_preprocess
from dfshield.detectors import build_detector
from dfshield.distributed import DistInfo
from dfshield.engine.batch_sources import LoaderBatches
from dfshield.engine.feature_bank import load_or_extract
from dfshield.engine.splits import SplitProvider
from tests.helpers import toy_layer

MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
TIMM = {"name": "timm", "model": "resnet10t", "pretrained": False, "image_size": 32}


def random_frames(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_device_normalizer_is_totensor_and_normalize():
    frames = random_frames(4, 20, 24, 3)
    reference = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])
    want = torch.stack([reference(frame) for frame in frames])
    normalizer = DeviceNormalizer(MEAN, STD)
    batch = torch.from_numpy(frames).permute(0, 3, 1, 2)
    got = normalizer(batch, "cpu")
    assert got.dtype == torch.float32 and torch.equal(got, want)
    clips = normalizer(torch.stack([batch, batch]))  # (B, T, 3, H, W)
    assert clips.shape == (2, 4, 3, 20, 24) and torch.equal(clips[1], want)
    assert normalizer(want) is want  # already float: only moved (nowhere here)
    copy = pickle.loads(pickle.dumps(normalizer))  # as DataLoader workers get it: no tensors
    assert copy.mean == MEAN and copy._stats == {} and torch.equal(copy(batch), want)


def test_device_normalizer_reuses_a_cpu_batch_only_once_nothing_holds_it():
    normalizer = DeviceNormalizer(MEAN, STD)
    batch = torch.from_numpy(random_frames(4, 6, 5, 3)).permute(0, 3, 1, 2)
    want = normalizer(batch.contiguous(), "cpu").clone()
    first = normalizer(batch, "cpu")
    row = first[1]  # a view keeps the block in use
    address = first.data_ptr()
    del first
    second = normalizer(batch, "cpu")
    assert second.data_ptr() != address and torch.equal(row, want[1])
    del row
    third = normalizer(batch[:3], "cpu")  # a smaller batch fits the freed block
    assert third.data_ptr() == address and torch.equal(third, want[:3])
    assert torch.equal(second, want)  # untouched by the reuse
    held = [normalizer(batch, "cpu") for _ in range(3)]  # beyond the kept blocks: allocated
    assert len({tensor.data_ptr() for tensor in held + [second, third]}) == 5


def test_device_normalizer_makes_channels_last_batches_contiguous():
    frames = random_frames(2, 6, 5, 3)
    channels_last = torch.from_numpy(frames).permute(0, 3, 1, 2)  # as collate hands frames over
    normalizer = DeviceNormalizer(MEAN, STD)
    got = normalizer(channels_last, "cpu")
    assert got.is_contiguous() and torch.equal(got, normalizer(channels_last.contiguous()))


def test_clip_preprocess_splits_into_torch_resize_and_normalisation():
    """The resize half runs torch's uint8 kernel: within 2 levels of open_clip's PIL resize on
    under 1 % of pixels (the documented choice); the normalisation half is bit for bit."""
    backbone = ClipBackbone(model="dfshield-tiny-vit", pretrained=None)
    split = backbone.preprocess
    assert isinstance(split, FramePreprocess) and (split.mean, split.std) == (MEAN, STD)
    assert repr(split).startswith(repr(backbone._transform)) and "torch" in repr(split)
    assert backbone.fingerprint()["preprocess"] == repr(split)  # banks know the kernel
    pil_half = T.Compose(backbone._transform.transforms[:3])  # Resize, CenterCrop, to RGB
    for shape in ((80, 100, 3), (40, 30, 3), (64, 64, 3), (256, 256, 3)):
        frame = random_frames(*shape)
        resized = split.resize(frame)
        assert resized.dtype == np.uint8 and resized.shape == (64, 64, 3)
        by_pil = np.asarray(pil_half(Image.fromarray(frame))).astype(int)
        difference = np.abs(resized.astype(int) - by_pil)
        assert difference.max() <= 2 and (difference > 0).mean() < 0.01
        want = T.Compose(backbone._transform.transforms[3:])(resized)  # ToTensor, Normalize
        batch = torch.from_numpy(resized).permute(2, 0, 1)[None]
        assert torch.equal(split.normalizer(batch)[0], want)
        assert torch.equal(split(frame), want)  # both halves on one frame (predict's path)
    same = random_frames(64, 64, 3)
    assert np.array_equal(split.resize(same), same)  # already the model's size: no resize


def test_torch_resize_matches_pil_closely_on_smooth_frames():
    """Bicubic and bilinear, upsampling and downsampling, non-square frames: torch's
    antialiased uint8 kernel against PIL, the bound the docs state."""
    smooth = np.asarray(Image.fromarray(random_frames(40, 52, 3)).resize((300, 256), Image.BICUBIC))
    for interpolation in (T.InterpolationMode.BICUBIC, T.InterpolationMode.BILINEAR):
        for size in (224, 320, 96):
            steps = [T.Resize(size, interpolation=interpolation), T.CenterCrop(size)]
            split = pil_preprocess(T.Compose([*steps, T.ToTensor()]))
            assert "torch" in repr(split)
            for frame in (smooth, random_frames(123, 457, 3)):
                by_pil = np.asarray(T.Compose(steps)(Image.fromarray(frame))).astype(int)
                difference = np.abs(split.resize(frame).astype(int) - by_pil)
                assert difference.max() <= 2 and (difference > 0).mean() < 0.01


def test_pil_preprocess_splits_only_what_it_can():
    frame = random_frames(30, 20, 3)
    to_tensor = T.Compose([T.Resize((12, 12)), T.ToTensor()])
    split = pil_preprocess(to_tensor)
    assert isinstance(split, FramePreprocess) and split.std == (1.0, 1.0, 1.0)
    want = to_tensor(Image.fromarray(frame))  # PIL's bilinear: torch's is within 2 levels
    torch.testing.assert_close(split(frame), want, rtol=0, atol=2 / 255 + 1e-6)
    nearest = T.Compose([T.Resize(12, interpolation=T.InterpolationMode.NEAREST), T.ToTensor()])
    kept = pil_preprocess(nearest)  # no torch kernel gives PIL's nearest: PIL, bit for bit
    assert isinstance(kept, FramePreprocess) and "torch" not in repr(kept)
    assert torch.equal(kept(frame), nearest(Image.fromarray(frame)))
    tensor_first = T.Compose([T.PILToTensor(), T.ConvertImageDtype(torch.float32)])
    whole = pil_preprocess(tensor_first)
    assert not isinstance(whole, FramePreprocess)
    assert torch.equal(whole(frame), tensor_first(Image.fromarray(frame)))


def read_all(dataset) -> torch.Tensor:
    return torch.stack([dataset[i]["image"] for i in range(len(dataset))])


@pytest.mark.parametrize("backbone", ["clip", "mean-std"])
def test_uint8_items_normalised_in_batch_equal_the_float_items(toy_dataset, tmp_path, backbone):
    """Both input paths: a frozen CLIP backbone's own preprocessing (bit for bit), and the
    dataset's resize + mean/std normalisation (to float rounding: NumPy vs torch)."""
    cfg = load_run_config(detector="clip_linear", extra_layers=[toy_layer(toy_dataset, tmp_path)])
    if backbone == "clip":
        spec = build_detector(cfg.detector).input_spec()
    else:
        spec = {"mode": "frame", "resolution": 24, "mean": MEAN, "std": STD}
    floats = DeepfakeDataset(cfg.data, "val", **spec)
    uint8s = DeepfakeDataset(cfg.data, "val", **spec, pixels="uint8")
    raw = read_all(uint8s)
    assert raw.dtype == torch.uint8 and floats.pixels == "float"
    got, want = uint8s.normalizer(raw, "cpu"), read_all(floats)
    if backbone == "clip":
        assert torch.equal(got, want)
    else:
        torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_feature_bank_and_loader_batches_get_the_float_inputs(toy_dataset, tmp_path):
    cfg = load_run_config(detector="clip_linear", extra_layers=[toy_layer(toy_dataset, tmp_path)])
    splits, cpu = SplitProvider.from_data(cfg.data), torch.device("cpu")
    # frozen CLIP: the bank holds the features of the float items
    detector = build_detector(cfg.detector)
    uint8s = splits.dataset("val", {**detector.input_spec(), "pixels": "uint8"})
    bank = load_or_extract(
        detector.backbone, uint8s, tmp_path / "cache", device=cpu, batch_size=8, progress=False
    )
    floats = splits.dataset("val", detector.input_spec())
    torch.testing.assert_close(bank.features, detector.backbone(read_all(floats)))
    # a trained backbone: the DataLoader's batches arrive normalised on the device
    trained = build_detector({"name": "clip_linear", "backbone": TIMM})
    batches = LoaderBatches(trained, splits, cfg, cpu, DistInfo())
    assert batches.dataset("val").pixels == "uint8"
    got = torch.cat([batch["image"] for batch in batches.eval_batches("val")])
    want = read_all(splits.dataset("val", trained.input_spec()))
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    first = next(batches.train_batches(0, torch.Generator().manual_seed(0)))
    assert first["image"].dtype == torch.float32 and first["image"].shape[1:] == (3, 32, 32)
