"""The frozen CLIP backbone and latent augmentation (docs/methods.md §1–2, §6)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import dfshield.backbones.base as bbmod
from dfshield.backbones.base import PRECISIONS, Backbone, frozen_precision, matmul_precision
from dfshield.backbones.clip import ClipBackbone
from dfshield.detectors import build_detector
from dfshield.detectors.latent_augment import latent_augment
from dfshield.errors import ConfigError

TINY = {"model": "dfshield-tiny-vit", "pretrained": None}


def test_feature_layers_normalisation_and_preprocessing():
    proj = ClipBackbone(**TINY)
    pre = ClipBackbone(**TINY, feature="pre_proj", normalize=True)
    image = np.random.default_rng(0).integers(0, 255, (80, 100, 3), dtype=np.uint8)
    x = proj.preprocess(image)
    assert x.shape == (3, proj.image_size, proj.image_size)  # the model's own resize + centre crop
    assert proj(x[None]).shape == (1, 64) and pre(x[None]).shape == (1, 128)
    assert torch.allclose(pre(x[None]).norm(dim=-1), torch.ones(1))
    # pre_proj is the pooled token before the projection matrix of the same (seeded) weights
    projection = ClipBackbone(**TINY).visual.proj
    unnormalised = ClipBackbone(**TINY, feature="pre_proj")(x[None])
    assert torch.allclose(unnormalised @ projection, proj(x[None]), atol=1e-5)


def test_frozen_and_seeded():
    backbone = ClipBackbone(**TINY)
    assert not backbone.trainable and not any(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert not backbone.training  # stays in eval mode
    again = ClipBackbone(**TINY)
    x = torch.randn(2, 3, 64, 64)
    assert torch.equal(backbone(x), again(x))
    assert backbone.fingerprint() == again.fingerprint()
    assert ClipBackbone(**TINY, init_seed=1).fingerprint() != backbone.fingerprint()
    assert ClipBackbone(**TINY, feature="pre_proj").fingerprint() != backbone.fingerprint()


def test_missing_or_offline_weights_are_a_clear_error(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no checkpoint file at"):
        ClipBackbone(model="dfshield-tiny-vit", pretrained=str(tmp_path / "missing.bin"))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(
        ConfigError, match=r"(?s)could not load CLIP weights 'openai'.*pretrained=/path/to"
    ):
        ClipBackbone(model="ViT-B-32", pretrained="openai", cache_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="unknown open_clip model 'ViT-L-41'"):
        ClipBackbone(model="ViT-L-41", pretrained=None)
    with pytest.raises(ConfigError, match="backbone.feature"):
        ClipBackbone(**TINY, feature="cls")


def test_latent_augmentation_follows_the_formula():
    generator = torch.Generator().manual_seed(0)
    features, labels = torch.randn(4000, 16), torch.randint(0, 2, (4000,))
    out, out_labels = latent_augment(features, labels, 0.5, generator)
    assert out.shape == (8000, 16) and torch.equal(out[:4000], features)
    assert torch.equal(out_labels, torch.cat([labels, labels]))
    noise = out[4000:] - features
    # F̂ = F + β·η, η ~ N(0, σ²I), σ ~ U(0,1): Var = β²·E[σ²] = 0.25 / 3
    assert noise.var().item() == pytest.approx(0.25 / 3, rel=0.05)
    random_beta, _ = latent_augment(features, labels, "random", torch.Generator().manual_seed(0))
    # β ~ U(0,1) as well: Var = E[β²]·E[σ²] = 1/9
    assert (random_beta[4000:] - features).var().item() == pytest.approx(1 / 9, rel=0.05)

    # σ (and a random β) is drawn once per copied row, not per element: the noise of row i has
    # standard deviation β·σ_i, so the rows' standard deviations follow σ's distribution — a
    # per-element σ would give every row nearly the same one (β/√3) with the same variance
    wide = torch.randn(2000, 512)
    grid = np.linspace(0.05, 0.95, 19)

    def row_std_cdf(beta, scale: float = 1.0) -> np.ndarray:
        out, _ = latent_augment(wide, labels[:2000], beta, torch.Generator().manual_seed(1))
        stds = (out[2000:] - wide).std(dim=1).numpy() / scale
        return np.array([(stds <= x).mean() for x in grid])

    # β = 0.5: std/β = σ ~ U(0, 1), CDF(x) = x
    assert np.abs(row_std_cdf(0.5, scale=0.5) - grid).max() < 0.05
    # β, σ ~ U(0, 1) per row: std = βσ, CDF(x) = x - x·ln x
    assert np.abs(row_std_cdf("random") - (grid - grid * np.log(grid))).max() < 0.05


def test_detectors_expose_the_deepfakebench_interface():
    detector = build_detector({"name": "spcup", "backbone": {"name": "clip", **TINY}})
    detector.build_loss({"name": "bce"})
    data = {"image": torch.randn(4, 3, 64, 64), "label": torch.tensor([0, 1, 0, 1])}
    pred = detector(data)
    assert set(pred) >= {"cls", "prob", "feat"} and pred["cls"].shape == (4,)
    assert torch.allclose(pred["prob"], torch.sigmoid(pred["cls"]))
    assert set(detector.get_losses(data, pred)) >= {"overall"}
    assert set(detector.get_train_metrics(data, pred)) == {"acc", "auc"}
    # features from the bank skip the backbone (eval mode: no dropout)
    detector.eval()
    pred = detector(data)
    from_bank = detector({"feature": pred["feat"], "label": data["label"]})
    assert torch.allclose(from_bank["cls"], pred["cls"])


# -- frozen precision -----------------------------------------------------------------------------


def on_a_gpu(monkeypatch, bf16: bool = True) -> None:
    """Backbones report a CUDA device (their weights stay on the CPU); bf16 support as given."""
    monkeypatch.setattr(Backbone, "device", property(lambda self: torch.device("cuda", 0)))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: bf16)


def test_resolved_precision_on_cpu_and_gpu(monkeypatch):
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    for precision in PRECISIONS:
        assert frozen_precision(precision, cpu) == "fp32"  # reduced precision only on a GPU
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    assert [frozen_precision(p, gpu) for p in PRECISIONS] == ["bf16", "bf16", "fp16", "tf32"]
    assert frozen_precision("fp32", gpu, strict_fp32=True) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert frozen_precision("auto", gpu) == "fp16"
    with pytest.raises(ConfigError, match="'precision' must be one of 'auto', 'bf16'"):
        ClipBackbone(**TINY, precision="bf32")
    with pytest.raises(ConfigError, match="'strict_fp32' must be true or false"):
        ClipBackbone(**TINY, strict_fp32="yes")


@pytest.mark.slow
def test_fingerprint_holds_the_precision_that_ran(monkeypatch):
    options = [
        {"precision": "bf16"},
        {"precision": "fp32"},
        {"precision": "fp32", "strict_fp32": True},
    ]
    # on the CPU all of them run in fp32: one bank serves them all
    on_cpu = [ClipBackbone(**TINY, **o).fingerprint() for o in options]
    assert [f["precision"] for f in on_cpu] == ["fp32"] * 3 and on_cpu[0] == on_cpu[1]
    on_a_gpu(monkeypatch)
    backbones = [ClipBackbone(**TINY, **o) for o in options]
    on_gpu = [b.fingerprint() for b in backbones]
    assert [f["precision"] for f in on_gpu] == ["bf16", "tf32", "fp32"]
    assert len({json.dumps(f, sort_keys=True) for f in on_gpu + on_cpu[:1]}) == 3
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert ClipBackbone(**TINY).fingerprint()["precision"] == "fp16"  # auto, without bf16


def test_bf16_casts_the_weights_not_autocast(monkeypatch):
    """bf16 runs a bf16-weight copy of the encoder on bf16 inputs (the fp32 weights stay), which
    is what a raw bf16 model computes to the bit; features come back float32, close to fp32's."""
    backbone = ClipBackbone(**TINY, precision="bf16")
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    fp32 = backbone(x)  # the CPU: fp32
    monkeypatch.setattr(bbmod, "frozen_precision", lambda *args: "bf16")
    features = backbone(x)
    raw = copy.deepcopy(backbone.visual).to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert features.dtype == torch.float32 and torch.equal(features, raw)
    assert not torch.equal(features, fp32)
    torch.testing.assert_close(features, fp32, rtol=0.1, atol=0.05)
    assert all(p.dtype == torch.float32 for p in backbone.parameters())
    (cast,) = backbone._casts.values()
    assert all(p.dtype == torch.bfloat16 for p in cast.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # an outer autocast changes nothing
        assert torch.equal(backbone(x), features)
    # stale copies are dropped when the weights move or change
    backbone.to("cpu")
    assert not backbone._casts
    backbone(x)
    backbone.load_state_dict(backbone.state_dict())
    assert not backbone._casts


def test_fp32_runs_under_the_scoped_matmul_precision(monkeypatch):
    seen = []
    backbone = ClipBackbone(**TINY)
    backbone.visual.register_forward_pre_hook(
        lambda module, args: seen.append(
            (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
        )
    )
    before = torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32
    x = torch.randn(1, 3, 64, 64)
    for compute in ("tf32", "fp32"):
        monkeypatch.setattr(bbmod, "frozen_precision", lambda *args, c=compute: c)
        backbone(x)
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before
    assert seen == [("high", True), ("highest", False)]
    with matmul_precision("bf16"):  # reduced precision: the global setting is left alone
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32) == before


def test_checkpoint_trained_at_another_precision_loads_without_warning(caplog, tmp_path):
    """A head trained on GPU features (bf16) scores CPU features (fp32): only a weights change
    is worth a warning."""
    from dfshield.engine.checkpoint import detector_from_checkpoint

    config = {"name": "clip_linear", "backbone": {"name": "clip", **TINY}}
    detector = build_detector(config)
    stored = {**detector.backbone.fingerprint(), "precision": "bf16"}
    payload = {
        "model": detector.trainable_state_dict(),
        "backbone": stored,
        "config": {"detector": config},
    }
    with caplog.at_level("WARNING", logger="dfshield.engine.checkpoint"):
        detector_from_checkpoint(config, payload, tmp_path / "best.pt")
    assert "differs" not in caplog.text
    payload["backbone"] = {**stored, "weights": "random-init-seed-7"}
    with caplog.at_level("WARNING", logger="dfshield.engine.checkpoint"):
        detector_from_checkpoint(config, payload, tmp_path / "best.pt")
    assert "differs" in caplog.text and "weights: 'random-init-seed-7' → " in caplog.text
