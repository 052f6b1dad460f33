"""The timm backbone: feature shapes, frozen vs trainable, preprocessing, weights and fingerprint,
and the offline error. Tiny random-init models only (no internet)."""

import copy

import numpy as np
import pytest
import timm
import torch

import dfshield.backbones.timm  # noqa: F401  (registers "timm")
from dfshield.backbones.timm import TimmBackbone
from dfshield.errors import ConfigError
from dfshield.registry import BACKBONE

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@pytest.fixture(autouse=True)
def _tiny_models_on_one_thread(one_thread):
    """(conftest's ``one_thread``, for every test of this file)"""


def tiny(**options):
    return TimmBackbone(**{"model": "resnet10t", "pretrained": False, "image_size": 32, **options})


def test_registered_and_feature_shapes():
    backbone = BACKBONE.build(
        {"name": "timm", "model": "resnet10t", "pretrained": False, "image_size": 32}
    )
    assert isinstance(backbone, TimmBackbone)
    assert backbone.feature_dim == timm.create_model("resnet10t", num_classes=0).num_features == 512
    assert backbone(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    # a clip batch is encoded frame by frame and keeps its (B, T) layout
    clips = torch.randn(2, 3, 3, 32, 32)
    backbone.eval()
    per_clip = backbone(clips)
    assert per_clip.shape == (2, 3, 512)
    torch.testing.assert_close(per_clip[1, 2], backbone(clips[1, 2:3])[0], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="expects images"):
        backbone(torch.randn(2, 32, 32))


def test_image_size_mean_std_from_timm_data_config():
    backbone = TimmBackbone(model="resnet10t", pretrained=False)
    cfg = timm.get_pretrained_cfg("resnet10t")
    assert backbone.image_size == cfg.input_size[-1] == 176
    assert backbone.mean == pytest.approx(IMAGENET_MEAN) and backbone.std == pytest.approx(
        IMAGENET_STD
    )
    assert tiny(image_size=48).image_size == 48


def test_frozen_backbone_has_no_grad_and_stays_in_eval_mode():
    backbone = tiny(freeze=True)
    assert backbone.trainable is False
    assert not any(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert not backbone.training and not any(m.training for m in backbone.modules())
    running = backbone.model.bn1.running_mean.clone()
    features = backbone(torch.randn(4, 3, 32, 32) * 3 + 1)
    assert not features.requires_grad
    torch.testing.assert_close(backbone.model.bn1.running_mean, running)  # statistics fixed
    wrapper = torch.nn.Sequential(backbone)
    wrapper.train()
    assert not backbone.training


def test_trainable_backbone_gets_gradients():
    backbone = tiny(freeze=False)
    assert backbone.trainable is True
    backbone.train()
    assert backbone.training and backbone.model.training
    backbone(torch.randn(2, 3, 32, 32)).square().sum().backward()
    grads = [p.grad for p in backbone.parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


def test_preprocess_normalises_by_hand_computation():
    backbone = tiny()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)  # already at image_size
    out = backbone.preprocess(rgb)
    expected = (rgb.astype(np.float64) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    assert out.shape == (3, 32, 32) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected.transpose(2, 0, 1), rtol=1e-5, atol=1e-5)
    # resized both ways: a constant image stays constant, so every pixel is known exactly
    for shape in ((100, 80, 3), (16, 20, 3)):
        flat = np.empty(shape, np.uint8)
        flat[...] = (10, 128, 250)
        out = backbone.preprocess(flat)
        assert out.shape == (3, 32, 32)
        want = (np.array([10, 128, 250]) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
        np.testing.assert_allclose(
            out.numpy(), np.broadcast_to(want[:, None, None], (3, 32, 32)), rtol=1e-5, atol=1e-5
        )


def test_seeded_random_init_and_fingerprint():
    a, b, c = tiny(init_seed=3), tiny(init_seed=3), tiny(init_seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint()["weights"] == "random-init-seed-3"
    assert a.fingerprint() != c.fingerprint()
    assert a.fingerprint() != tiny(init_seed=3, model="resnet18").fingerprint()
    assert a.fingerprint() != tiny(init_seed=3, image_size=48).fingerprint()
    assert "32x32" in a.fingerprint()["preprocess"]


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_checkpoint_file_is_loaded_and_identified(tmp_path, suffix):
    torch.manual_seed(123)
    source = timm.create_model("resnet10t")  # with its 1000-class classifier, like a real file
    path = tmp_path / f"resnet10t{suffix}"
    if suffix == ".pth":
        torch.save(source.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file(source.state_dict(), str(path))
    # pretrained: true with a checkpoint never goes to the hub
    backbone = tiny(pretrained=True, checkpoint=str(path))
    loaded = backbone.model.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith("fc."):
            torch.testing.assert_close(loaded[key], value)
    weights = backbone.fingerprint()["weights"]
    assert weights.startswith(f"file:resnet10t{suffix}:")
    assert weights != tiny().fingerprint()["weights"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ConfigError, match="backbone.checkpoint: no file"):
        tiny(checkpoint=str(tmp_path / "missing.pth"))
    wrong = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", num_classes=0).state_dict(), wrong)
    with pytest.raises(ConfigError, match="does not fit timm model resnet10t"):
        tiny(checkpoint=str(wrong))
    text = tmp_path / "notes.txt"
    text.write_text("x")
    with pytest.raises(ConfigError, match=r"\.safetensors"):
        tiny(checkpoint=str(text))


def test_offline_pretrained_download_gives_config_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # read at call time
    with pytest.raises(ConfigError) as info:
        TimmBackbone(model="resnet10t", pretrained=True, cache_dir=str(tmp_path))
    message = str(info.value)
    assert "resnet10t" in message and "timm/resnet10t" in message
    assert "detector.backbone.checkpoint=" in message and "pretrained_cfg_overlay" in message
    assert "HF_HOME" in message and "HF_HUB_OFFLINE=1" in message
    assert "pretrained: false" in message


def test_bad_options_name_the_key():
    with pytest.raises(ConfigError, match=r"unknown timm model 'resnet5O'.*Did you mean"):
        tiny(model="resnet5O")
    with pytest.raises(ConfigError, match="backbone.pretrained"):
        tiny(pretrained="yes")
    with pytest.raises(ConfigError, match="backbone.freeze"):
        tiny(freeze=1)
    with pytest.raises(ConfigError, match="backbone.image_size"):
        tiny(image_size=0)
    with pytest.raises(ConfigError, match="has no option 'froze'"):
        BACKBONE.build({"name": "timm", "model": "resnet10t", "froze": True})


def test_frozen_precision_casts_weights_and_is_fingerprinted(monkeypatch):
    import dfshield.backbones.base as bbmod

    frozen = tiny(freeze=True, precision="bf16")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    fp32 = frozen(x)
    assert frozen.fingerprint()["precision"] == "fp32"  # on the CPU
    monkeypatch.setattr(bbmod, "frozen_precision", lambda *args: "bf16")
    features = frozen(x)
    raw = copy.deepcopy(frozen.model).to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert features.dtype == torch.float32 and torch.equal(features, raw)
    torch.testing.assert_close(features, fp32, rtol=0.1, atol=0.05)
    assert frozen.fingerprint()["precision"] == "bf16"
    assert all(p.dtype == torch.float32 for p in frozen.parameters())
    # a trained backbone follows train.amp: the frozen options are refused, not ignored
    with pytest.raises(ConfigError, match="apply to a frozen backbone"):
        tiny(freeze=False, precision="bf16")
    assert tiny(freeze=False).fingerprint()["precision"] == "fp32"


def test_preprocess_splits_into_resize_and_normalisation():
    from dfshield.data.pixels import FramePreprocess

    backbone = tiny()
    rgb = np.random.default_rng(1).integers(0, 256, size=(50, 40, 3), dtype=np.uint8)
    assert isinstance(backbone.preprocess, FramePreprocess)
    resized = backbone.preprocess.resize(rgb)
    assert resized.shape == (32, 32, 3) and resized.dtype == np.uint8
    batch = torch.from_numpy(resized).permute(2, 0, 1)[None]
    assert torch.equal(backbone.preprocess.normalizer(batch)[0], backbone.preprocess(rgb))
