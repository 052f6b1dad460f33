"""The detector contract (dfshield/detectors/base.py): every registered detector and every shipped
detector config keep it, and ``check_detector`` names what a broken class gets wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from dfshield.config import load_yaml
from dfshield.detectors import build_detector, check_detector
from dfshield.detectors.base import BaseDetector
from dfshield.errors import ConfigError
from dfshield.registry import DETECTOR

DETECTOR_CONFIGS = sorted(
    (Path(__file__).resolve().parents[2] / "configs" / "detectors").glob("*.yaml")
)
SMALL_BACKBONES = {
    "clip": {"model": "dfshield-tiny-vit", "pretrained": None},
    "timm": {"model": "resnet10t", "pretrained": False, "checkpoint": None},
}
# a clip of 32×32 frames and a narrow GRU: ddln's shipped sizes take seconds on a CPU
SMALL_OPTIONS = {"ddln": {"input_size": 32, "gru_hidden": 16}}
# registered detectors without a shipped config: the options that build one
UNSHIPPED = {
    "deepfakebench": {
        "class": "tests.deepfakebench_style:TinyNet",  # a DeepfakeBench-style class of tests/
        "config": {"model_name": "tiny", "resolution": 32, "mean": [0.5] * 3, "std": [0.5] * 3},
        "backbone": None,  # their network is the backbone
    }
}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """(conftest's ``one_thread``, for every test of this file)"""


def shipped(path: Path) -> tuple[str, dict, dict]:
    """A shipped detector config with a small random-init backbone of the same family."""
    config = load_yaml(path)
    options = dict(config["detector"])
    name = options.pop("name")
    backbone = options["backbone"]
    options["backbone"] = {**backbone, **SMALL_BACKBONES[backbone["name"]]}
    return name, {**options, **SMALL_OPTIONS.get(name, {})}, config.get("loss", {"name": "bce"})


@pytest.mark.parametrize("path", DETECTOR_CONFIGS, ids=lambda path: path.stem)
def test_every_shipped_detector_config_keeps_the_contract(path):
    name, options, loss = shipped(path)
    detector = check_detector(DETECTOR.get(name), options, loss=loss)
    assert isinstance(detector, BaseDetector)


@pytest.mark.parametrize("name", DETECTOR.names())
def test_every_registered_detector_keeps_the_contract(name):
    configs = [shipped(path) for path in DETECTOR_CONFIGS]
    options, loss = next(
        ((o, loss) for n, o, loss in configs if n == name), (UNSHIPPED.get(name, {}), None)
    )
    check_detector(DETECTOR.get(name), options, loss=loss)  # no config: tiny CLIP and BCE


# -- broken detectors ------------------------------------------------------------------------
class Head(BaseDetector):
    """A correct minimal detector: frozen features → linear head (the README's shape)."""

    def __init__(self, backbone):
        super().__init__(backbone)
        self.head = nn.Linear(self.backbone.feature_dim, 1)

    def classifier(self, features):
        return self.head(features).squeeze(-1)


class TwoDimensionalLogits(Head):
    def classifier(self, features):
        return self.head(features)  # (B, 1): forgot the squeeze


class ProbIsNotSigmoid(Head):
    def forward(self, data_dict, inference=False):
        pred = super().forward(data_dict, inference)
        return {**pred, "prob": pred["cls"]}


class DetachedLoss(Head):
    def get_losses(self, data_dict, pred_dict):
        return {"overall": super().get_losses(data_dict, pred_dict)["overall"].detach()}


class PerSampleLoss(Head):
    def get_losses(self, data_dict, pred_dict):
        target = data_dict["label"].float()
        losses = nn.functional.binary_cross_entropy_with_logits(
            pred_dict["cls"], target, reduction="none"
        )
        return {"overall": losses}


class IgnoresBankFeatures(Head):
    def features(self, data_dict):
        return self.backbone(data_dict["image"])  # the trainer passes image=None with a bank


class WrongCopies(Head):
    feature_copies = 3

    def augment_features(self, features, labels, generator):
        return torch.cat([features, features]), torch.cat([labels, labels])


class NamesNoBatchedHead(Head):
    batched_head = "mlp"  # no such attribute


class ForgetsTheHead(Head):
    def trainable_state_dict(self):
        return {}

    def load_trainable_state_dict(self, state):
        self.load_state_dict(state, strict=False)


class DropsTheBackbone(Head):
    def __init__(self, backbone):
        super().__init__(backbone)
        self.backbone = None


class NoBackbone(Head):
    def __init__(self, backbone):
        super().__init__(None)


class WrongSpec(Head):
    def input_spec(self):
        return {"mode": "frame", "size": 64}


@pytest.mark.parametrize(
    "cls, member, fix",
    [
        (TwoDimensionalLogits, r"cls is torch.float32 of shape \(4, 1\)", "squeeze"),
        (ProbIsNotSigmoid, r"prob is not sigmoid\(cls\)", r"torch.sigmoid\(cls\)"),
        (DetachedLoss, "get_losses: 'overall' has no gradient", "without .detach"),
        (PerSampleLoss, r"get_losses: 'overall' is \(4,\), not a scalar", "mean"),
        (IgnoresBankFeatures, "forward: raised", "training batch"),
        (WrongCopies, r"augment_features: returns features \(8, 64\)", "feature_copies"),
        (ForgetsTheHead, "load_trainable_state_dict: a reloaded detector scores", "every trained"),
        (NamesNoBatchedHead, "batched_head: is 'mlp', which names no nn.Sequential", "or set None"),
        (DropsTheBackbone, "backbone: is NoneType, not a Backbone", r"super\(\).__init__"),
        (
            NoBackbone,
            "__init__: raised ConfigError: .*needs a backbone",
            r"super\(\).__init__\(backbone\)",
        ),
        (WrongSpec, r"input_spec\(\): returns \['mode', 'size'\]", "exactly the keys"),
        (nn.Linear, "class: .* is not a subclass of BaseDetector", "BaseDetector"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_broken_class_is_named_with_its_fix(cls, member, fix):
    check_detector(Head)  # the unbroken parent passes
    with pytest.raises(ConfigError, match="breaks the detector contract") as info:
        check_detector(cls)
    message = str(info.value)
    line = next((line for line in message.splitlines() if _search(member, line)), None)
    assert line is not None, message
    assert _search(f"Fix: .*{fix}", line), line


def _search(pattern: str, text: str) -> bool:
    import re

    return re.search(pattern, text) is not None


def test_every_problem_is_reported_at_once():
    class TwoProblems(ProbIsNotSigmoid, WrongCopies):
        pass

    with pytest.raises(ConfigError) as info:
        check_detector(TwoProblems)
    assert "prob is not sigmoid" in str(info.value)
    assert "augment_features" in str(info.value)


def test_a_video_detector_must_return_frame_scores():
    class VideoWithoutFrames(Head):
        input_mode = "video"

        def features(self, data_dict):
            images = data_dict["image"]
            return self.backbone(images.flatten(0, 1)).unflatten(0, images.shape[:2]).mean(1)

    with pytest.raises(ConfigError, match=r"no tensor frame_cls, frame_prob"):
        check_detector(VideoWithoutFrames)


# -- backbone is required ----------------------------------------------------------------------
@pytest.mark.parametrize("backbone", [None, {}])
def test_a_detector_without_backbone_is_a_config_error_naming_the_fix(backbone):
    with pytest.raises(ConfigError, match=r"needs a backbone: set detector\.backbone.*name: clip"):
        Head(backbone)


def test_a_config_without_backbone_section_names_the_option():
    with pytest.raises(ConfigError, match=r"detector 'clip_linear' needs the option\(s\) backbone"):
        build_detector({"name": "clip_linear"})
