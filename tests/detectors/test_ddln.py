"""DDLN (Pu et al. 2022, docs/methods.md §4): shapes and dual outputs, the per-level loss and
its WMW direction, β-weighting of the two levels, training on a toy batch, options and the YAML.
Tiny random-init timm models only (no internet)."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import dfshield.detectors.ddln  # noqa: F401  (registers "ddln" and the "timm" backbone)
from dfshield.config import load_run_config, load_yaml
from dfshield.detectors import build_detector
from dfshield.detectors.ddln import DDLNDetector
from dfshield.errors import ConfigError

YAML = Path(__file__).resolve().parents[2] / "configs" / "detectors" / "ddln.yaml"
TINY = {"name": "timm", "model": "resnet10t", "pretrained": False}
PAPER_LOSS = {
    "name": "composite",
    "terms": [{"name": "bce"}, {"name": "auc_wmw", "gamma": 0.15, "p_exp": 2.0}],
}


@pytest.fixture(autouse=True)
def _tiny_models_on_one_thread(one_thread):
    """(conftest's ``one_thread``, for every test of this file)"""


def tiny(**options):
    torch.manual_seed(0)
    return DDLNDetector(**{"backbone": dict(TINY), "input_size": 32, "gru_hidden": 16, **options})


def clips(batch=2, frames=4, size=32, seed=0):
    return torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(seed))


def test_shapes_and_dual_outputs():
    detector = tiny().eval()
    images = clips()
    calls = []
    detector.backbone.register_forward_hook(lambda module, args, out: calls.append(args[0].shape))
    with torch.no_grad():
        out = detector({"image": images})
    assert calls == [torch.Size([8, 3, 32, 32])]  # all B·T frames as one batch
    assert out["cls"].shape == out["prob"].shape == (2,)
    assert out["frame_cls"].shape == out["frame_prob"].shape == (2, 4)
    assert out["feat"].shape == (2, 16)
    torch.testing.assert_close(out["prob"], torch.sigmoid(out["cls"]))
    torch.testing.assert_close(out["frame_prob"], torch.sigmoid(out["frame_cls"]))
    # by hand: GRU over per-frame features; frame head on every step, video head on the mean
    with torch.no_grad():
        features = torch.stack([detector.backbone(images[b]) for b in range(2)])
        steps, _ = detector.gru(features)
        torch.testing.assert_close(
            out["frame_cls"], detector.frame_head(steps)[..., 0], rtol=1e-4, atol=1e-5
        )
        torch.testing.assert_close(out["feat"], steps.mean(1), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(
            out["cls"], detector.video_head(steps.mean(1))[:, 0], rtol=1e-4, atol=1e-5
        )
        # precomputed frame features (a frozen backbone's feature bank) give the same outputs
        from_features = detector({"feature": features, "image": None})
        torch.testing.assert_close(from_features["cls"], out["cls"], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(detector.classifier(features), out["cls"], rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"clips \(B, T, 3, H, W\)"):
        detector({"image": images[:, 0]})


def test_without_the_temporal_module_the_heads_read_the_cnn_features():
    """The paper's ablation without TLM (its Table 6): no GRU, both heads on the frame features."""
    detector = tiny(temporal=False).eval()
    assert detector.gru is None
    assert detector.frame_head.in_features == detector.backbone.feature_dim
    images = clips()
    with torch.no_grad():
        out = detector({"image": images})
        features = torch.stack([detector.backbone(images[b]) for b in range(2)])
    torch.testing.assert_close(
        out["frame_cls"], detector.frame_head(features)[..., 0], rtol=1e-4, atol=1e-5
    )
    torch.testing.assert_close(
        out["cls"], detector.video_head(features.mean(1))[:, 0], rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ConfigError, match="detector 'ddln': 'temporal' must be true or false"):
        tiny(temporal="no")


def test_defaults_follow_the_paper():
    detector = DDLNDetector(backbone={"name": "timm", "model": "resnet50", "pretrained": False})
    assert detector.backbone.feature_dim == 2048 and detector.gru.input_size == 2048
    assert (
        detector.gru.num_layers == 3
        and detector.gru.hidden_size == 256
        and detector.gru.batch_first
    )
    assert detector.frame_head.in_features == detector.video_head.in_features == 256
    assert detector.input_size == 64 == detector.backbone.image_size
    assert (detector.alpha, detector.beta) == (0.5, 0.5)
    assert DDLNDetector.input_mode == "video"
    assert dfshield.detectors.ddln.DEFAULT_BACKBONE == {
        "name": "timm",
        "model": "resnet50",
        "pretrained": True,
        "freeze": False,
    }


def test_input_spec_trainable_and_frozen():
    detector = tiny()
    spec = detector.input_spec()
    assert spec["mode"] == "video" and spec["resolution"] == 32 and spec["preprocess"] is None
    assert spec["mean"] == detector.backbone.mean and spec["std"] == detector.backbone.std
    assert not detector.uses_feature_bank
    # a frozen backbone still encodes each clip every step: feature banks hold frames, not clips
    frozen = tiny(backbone={**TINY, "freeze": True})
    assert not frozen.uses_feature_bank
    spec = frozen.input_spec()
    assert spec["resolution"] == 32 and spec["preprocess"] is None
    frozen.train()
    assert frozen.gru.training and not frozen.backbone.training
    assert not any(p.requires_grad for p in frozen.backbone.parameters())


def wmw_by_hand(probs, labels, gamma=0.15, power=2.0):
    terms = [
        max(gamma - (pf - pr), 0.0) ** power
        for pf, yf in zip(probs, labels)
        if yf == 1
        for pr, yr in zip(probs, labels)
        if yr == 0
    ]
    return sum(terms) / len(terms)


def test_wmw_ranks_fakes_above_reals_through_get_losses():
    detector = tiny(alpha=0.0)
    detector.build_loss(PAPER_LOSS)
    labels = torch.tensor([1, 0, 1, 0])
    sign = (labels * 2 - 1).float()
    # fakes ahead of reals by far more than γ in probability, at both levels: no AUC loss
    ahead = {"cls": 3.0 * sign, "frame_cls": 3.0 * sign[:, None].repeat(1, 5)}
    losses = detector.get_losses({"label": labels}, ahead)
    assert losses["overall"].item() == losses["video"].item() == losses["frame"].item() == 0.0
    # reversed order is penalised, by (γ − (p_fake − p_real))² averaged over pairs
    behind = {"cls": -3.0 * sign, "frame_cls": -3.0 * sign[:, None].repeat(1, 5)}
    losses = detector.get_losses({"label": labels}, behind)
    p = torch.sigmoid(torch.tensor(3.0)).item()
    assert losses["video"].item() == pytest.approx((0.15 + p - (1 - p)) ** 2, rel=1e-5)
    assert losses["frame"].item() == pytest.approx(losses["video"].item(), rel=1e-5)


def test_get_losses_is_beta_weighted_sum_of_levels():
    alpha, beta = 0.3, 0.7
    detector = tiny(alpha=alpha, beta=beta)
    detector.build_loss(PAPER_LOSS, class_counts={"real": 7, "fake": 3})
    g = torch.Generator().manual_seed(5)
    labels = torch.tensor([1, 0, 0, 1, 0])
    pred = {"cls": torch.randn(5, generator=g), "frame_cls": torch.randn(5, 3, generator=g)}
    losses = detector.get_losses({"label": labels}, pred)

    def per_level(logits, y):
        bce = F.binary_cross_entropy_with_logits(logits.double(), y.double()).item()
        return alpha * bce + (1 - alpha) * wmw_by_hand(torch.sigmoid(logits).tolist(), y.tolist())

    video = per_level(pred["cls"], labels)
    frame = per_level(pred["frame_cls"].flatten(), labels.repeat_interleave(3))
    assert losses["video"].item() == pytest.approx(video, rel=1e-5)
    assert losses["frame"].item() == pytest.approx(frame, rel=1e-5)
    assert losses["overall"].item() == pytest.approx(beta * video + (1 - beta) * frame, rel=1e-5)


def test_alpha_sets_loss_weights_and_null_keeps_the_section():
    detector = tiny(alpha=0.8)
    loss = detector.build_loss(PAPER_LOSS)
    assert loss.weights == pytest.approx([0.8, 0.2])
    detector = tiny(alpha=None)
    assert detector.build_loss({"name": "bce"}).__class__.__name__ == "BCELoss"
    with pytest.raises(ConfigError, match=r"detector.alpha .*two terms.*detector.alpha: null"):
        tiny().build_loss({"name": "bce"})
    bad = {"name": "composite", "terms": [{"name": "bce", "weight": 0.9}, {"name": "auc_wmw"}]}
    with pytest.raises(
        ConfigError, match=r"loss.terms\[0\].weight \(0.9\) disagrees with detector.alpha"
    ):
        tiny().build_loss(bad)
    with pytest.raises(RuntimeError, match="build_loss"):
        tiny().get_losses(
            {"label": torch.tensor([1])}, {"cls": torch.zeros(1), "frame_cls": torch.zeros(1, 2)}
        )


def test_a_few_steps_reduce_the_loss_end_to_end():
    detector = tiny(input_size=16)
    detector.build_loss(PAPER_LOSS)
    labels = torch.tensor([1, 0, 1, 0])
    images = clips(4, 2, 16, seed=1) * 0.3 + (labels.float() * 2 - 1).view(4, 1, 1, 1, 1)
    optimizer = torch.optim.Adam(detector.parameters(), lr=1e-2)
    detector.train()
    losses = []
    for _ in range(6):
        loss = detector.get_losses({"label": labels}, detector({"image": images}))["overall"]
        optimizer.zero_grad()
        loss.backward()
        assert detector.backbone.model.conv1[0].weight.grad.abs().sum() > 0  # trained end to end
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0]


def test_bad_options_name_the_key():
    for key, value in (("gru_layers", 0), ("gru_hidden", 2.5), ("input_size", "64")):
        with pytest.raises(ConfigError, match=f"detector 'ddln': '{key}' must be an integer >= 1"):
            tiny(**{key: value})
    for key, value in (("alpha", 1.5), ("beta", -0.1), ("beta", None)):
        with pytest.raises(
            ConfigError, match=rf"detector 'ddln': '{key}' must be a number in \[0, 1\]"
        ):
            tiny(**{key: value})
    with pytest.raises(
        ConfigError, match=r"image_size \(48\) differs from detector.input_size \(32\)"
    ):
        tiny(backbone={**TINY, "image_size": 48})
    with pytest.raises(ConfigError, match="has no option 'gru_hiden'.*Did you mean 'gru_hidden'"):
        build_detector({"name": "ddln", "backbone": dict(TINY), "gru_hiden": 8})


def test_yaml_loads_and_builds():
    raw = load_yaml(YAML)
    assert raw["detector"] == {
        "name": "ddln",
        "backbone": {"name": "timm", "model": "resnet50", "pretrained": True, "freeze": False},
        "input_size": 64,
        "gru_layers": 3,
        "gru_hidden": 256,
        "alpha": 0.5,
        "beta": 0.5,
    }
    assert raw["optimizer"] == {"name": "adam", "lr": 1.0e-4} and raw["scheduler"] == {
        "name": "none"
    }
    cfg = load_run_config(
        detector=str(YAML),
        overrides=[
            "detector.backbone.model=resnet10t",
            "detector.backbone.pretrained=false",
            "detector.input_size=32",
            "detector.gru_hidden=8",
        ],
    )
    detector = build_detector(cfg.detector)
    assert isinstance(detector, DDLNDetector)
    loss = detector.build_loss(cfg.loss, class_counts={"real": 4, "fake": 1})
    assert loss.keys == ["bce", "auc_wmw"] and loss.weights == pytest.approx([0.5, 0.5])
    assert (loss.terms[1].gamma, loss.terms[1].p_exp) == (0.15, 2.0)
