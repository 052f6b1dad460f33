"""``check_detector``: does a detector class keep the contract of ``dfshield/detectors/base.py``?

Over 450 lines: one check per member of the detector contract, all reported at once.

It runs the class on a small random batch as dfshield does (a training step, scoring without
labels, bank augmentation, a checkpoint round trip) and reports every broken member with its fix
in one ConfigError: a training run would find them one at a time, some only after encoding the
whole bank, and a ``prob`` that is not ``sigmoid(cls)`` never.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from dfshield.backbones.base import Backbone
from dfshield.detectors.base import BaseDetector
from dfshield.errors import ConfigError

#: the default backbone: a tiny random-init CLIP ViT (64×64 inputs, 64-d features)
TINY_BACKBONE = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}
SPEC_KEYS = ("mode", "resolution", "mean", "std", "preprocess")
MODES = ("frame", "video")
BATCH, FRAMES = 4, 2
LABELS = (0, 1, 0, 1)
DEFAULT_LOSS = {"name": "bce"}


def _add(problems: list[str], member: str, problem: str, fix: str) -> None:
    problems.append(f"- {member}: {problem}. Fix: {fix}")


def _raised(problems: list[str], member: str, error: Exception, fix: str) -> None:
    _add(problems, member, f"raised {type(error).__name__}: {error}", fix)


def check_detector(
    cls: type,
    config: Mapping[str, Any] | None = None,
    *,
    loss: Mapping[str, Any] | None = None,
) -> BaseDetector:
    """Build ``cls`` and check it against the detector contract; return the built detector.

    ``config`` holds its constructor options (the ``detector`` section without ``name``); without a
    ``backbone``, the tiny random-init CLIP ViT ``dfshield-tiny-vit`` (no download). ``loss`` is the
    section given to ``build_loss`` (default ``{name: bce}``). Raises one ConfigError naming every
    broken member and its fix.
    """
    name = getattr(cls, "__name__", repr(cls))
    problems: list[str] = []
    options = {"backbone": dict(TINY_BACKBONE), **dict(config or {})}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        detector = _build(cls, options, problems)
        if detector is not None and _check_members(detector, problems):
            _check_running(cls, options, detector, dict(loss or DEFAULT_LOSS), problems)
    if problems or detector is None:
        raise ConfigError(
            f"{name} breaks the detector contract (table in dfshield/detectors/base.py):\n"
            + "\n".join(problems)
        )
    detector.zero_grad(set_to_none=True)
    return detector


# -- building and static members ------------------------------------------------------------
def _build(cls: type, options: dict, problems: list[str]) -> BaseDetector | None:
    if not (isinstance(cls, type) and issubclass(cls, BaseDetector)):
        _add(
            problems,
            "class",
            f"{cls!r} is not a subclass of BaseDetector",
            "derive it from dfshield.detectors.base.BaseDetector",
        )
        return None
    try:
        return cls(**options)
    except Exception as error:
        _raised(
            problems,
            "__init__",
            error,
            f"make {cls.__name__}(**{options}) work: take the backbone config as `backbone` and "
            f"call super().__init__(backbone) before using self.backbone",
        )
        return None


def _check_members(detector: BaseDetector, problems: list[str]) -> bool:
    """Check the attributes and ``input_spec``; False when the batch cannot even be made."""
    if not isinstance(getattr(detector, "backbone", None), Backbone):
        _add(
            problems,
            "backbone",
            f"is {type(getattr(detector, 'backbone', None)).__name__}, not a Backbone",
            "call super().__init__(backbone) with the backbone config and do not replace "
            "self.backbone (override build_backbone to build another one)",
        )
        return False
    if detector.input_mode not in MODES:
        _add(
            problems,
            "input_mode",
            f"is {detector.input_mode!r}",
            f"set it to one of {', '.join(MODES)}",
        )
        return False
    copies = detector.feature_copies
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        _add(
            problems,
            "feature_copies",
            f"is {copies!r}",
            "set it to the whole number of rows augment_features makes of each bank row (>= 1)",
        )
    head = detector.batched_head
    if head is not None and not isinstance(getattr(detector, str(head), None), nn.Sequential):
        _add(
            problems,
            "batched_head",
            f"is {head!r}, which names no nn.Sequential of the detector",
            "name the attribute holding the MLP head that grouped runs may stack, or set None",
        )
    try:
        spec = detector.input_spec()
    except Exception as error:
        _raised(problems, "input_spec", error, "return the loader's settings (see BaseDetector)")
        return False
    if not isinstance(spec, Mapping) or set(spec) != set(SPEC_KEYS):
        keys = sorted(spec) if isinstance(spec, Mapping) else type(spec).__name__
        _add(
            problems,
            "input_spec()",
            f"returns {keys}",
            f"return a dict with exactly the keys {', '.join(SPEC_KEYS)} "
            f"(DeepfakeDataset's arguments)",
        )
        return False
    return _check_spec(detector, spec, problems)


def _check_spec(detector: BaseDetector, spec: Mapping[str, Any], problems: list[str]) -> bool:
    ok = True
    if spec["mode"] != detector.input_mode:
        _add(
            problems,
            "input_spec()",
            f"mode {spec['mode']!r} differs from input_mode {detector.input_mode!r}",
            "return mode = self.input_mode",
        )
    resolution = spec["resolution"]
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        _add(
            problems,
            "input_spec()",
            f"resolution is {resolution!r}",
            "return the input side in pixels (e.g. self.backbone.image_size)",
        )
        ok = False
    for key in ("mean", "std"):
        if not isinstance(spec[key], (tuple, list)) or len(spec[key]) != 3:
            _add(
                problems,
                "input_spec()",
                f"{key} is {spec[key]!r}",
                f"return three per-channel values (e.g. self.backbone.{key})",
            )
    if spec["preprocess"] is not None and not callable(spec["preprocess"]):
        _add(
            problems,
            "input_spec()",
            f"preprocess is {spec['preprocess']!r}",
            "return None or a function of one HxWx3 uint8 RGB image (self.backbone.preprocess)",
        )
    return ok


# -- running ----------------------------------------------------------------------------------
def _check_running(
    cls: type, options: dict, detector: BaseDetector, loss: dict, problems: list[str]
) -> None:
    resolution = detector.input_spec()["resolution"]
    video = detector.input_mode == "video"
    shape = (BATCH, FRAMES, 3) if video else (BATCH, 3)
    images = torch.randn(*shape, resolution, resolution)
    labels = torch.tensor(LABELS)
    if detector.uses_feature_bank:  # as the feature bank encodes frames and the trainer feeds rows
        with torch.no_grad():
            features = detector.backbone(images)
        train_data = {"feature": features, "label": labels, "image": None}
        _check_augment_features(detector, features, labels, problems)
    else:
        train_data = {"image": images, "label": labels}
    if not _check_training_step(detector, train_data, loss, video, problems):
        return
    scored = _check_scoring(detector, images, train_data, video, problems)
    if scored is not None:
        _check_round_trip(cls, options, detector, train_data, scored, problems)


def _check_training_step(
    detector: BaseDetector, data: dict, loss: dict, video: bool, problems: list[str]
) -> bool:
    """forward, build_loss, get_losses and get_train_metrics as the trainer calls them."""
    detector.train()
    try:
        pred = detector(data)
    except Exception as error:
        given = (
            "feature-bank rows in data_dict['feature'], data_dict['image'] None"
            if "feature" in data
            else "images in data_dict['image']"
        )
        _raised(
            problems,
            "forward",
            error,
            f"make forward(data_dict) work on a training batch ({given})",
        )
        return False
    if not _check_outputs(pred, video, "forward (training)", problems):
        return False
    try:
        detector.build_loss(loss, class_counts={"real": LABELS.count(0), "fake": LABELS.count(1)})
        losses = detector.get_losses(data, pred)
    except Exception as error:
        _raised(
            problems,
            "build_loss / get_losses",
            error,
            "build the loss from the loss section in build_loss, then return "
            "{'overall': scalar loss} from get_losses",
        )
        return False
    _check_loss(detector, losses, problems)
    try:
        metrics = detector.get_train_metrics(data, pred)
    except Exception as error:
        _raised(problems, "get_train_metrics", error, "return {name: float} of the batch")
    else:
        if not isinstance(metrics, Mapping) or not all(
            isinstance(value, (int, float)) for value in metrics.values()
        ):
            _add(
                problems,
                "get_train_metrics",
                f"returns {metrics!r}",
                "return a dict of name -> float",
            )
    return True


def _check_loss(detector: BaseDetector, losses: Any, problems: list[str]) -> None:
    overall = losses.get("overall") if isinstance(losses, Mapping) else None
    if not torch.is_tensor(overall) or overall.dim() != 0:
        shape = tuple(overall.shape) if torch.is_tensor(overall) else type(overall).__name__
        _add(
            problems,
            "get_losses",
            f"'overall' is {shape}, not a scalar tensor",
            "return {'overall': loss} with the loss reduced to one number (e.g. .mean())",
        )
        return
    if not torch.isfinite(overall):
        _add(problems, "get_losses", f"'overall' is {overall.item()}", "keep the loss finite")
        return
    if not overall.requires_grad:
        _add(
            problems,
            "get_losses",
            "'overall' has no gradient",
            "compute it from pred_dict's tensors without .detach() or torch.no_grad()",
        )
        return
    detector.zero_grad(set_to_none=True)
    overall.backward()
    grads = [p.grad for p in detector.parameters() if p.requires_grad and p.grad is not None]
    if not grads:
        _add(
            problems,
            "get_losses",
            "'overall' reaches no trainable parameter",
            "make the loss depend on the head's output (pred_dict['cls'])",
        )
    elif not all(bool(torch.isfinite(grad).all()) for grad in grads):
        _add(problems, "get_losses", "its gradient is not finite", "keep the loss differentiable")


def _check_scoring(
    detector: BaseDetector, images: torch.Tensor, train_data: dict, video: bool, problems: list[str]
) -> dict | None:
    """forward(inference=True) without labels, as the evaluator and the scorer call it."""
    detector.eval()
    data = {key: value for key, value in train_data.items() if key != "label"}
    try:
        with torch.no_grad():
            pred = detector(data, inference=True)
    except Exception as error:
        _raised(
            problems,
            "forward",
            error,
            "accept forward(data_dict, inference=True) without data_dict['label'] (scoring)",
        )
        return None
    if not _check_outputs(pred, video, "forward (scoring)", problems):
        return None
    if detector.uses_feature_bank:  # features() must honour data_dict["feature"]
        with torch.no_grad():
            from_images = detector({"image": images}, inference=True)
        if not torch.allclose(from_images["cls"], pred["cls"], rtol=1e-4, atol=1e-5):
            _add(
                problems,
                "features",
                "scores from feature-bank rows differ from scores of the same images",
                "return data_dict['feature'] when it is given, else self.backbone(image)",
            )
    return pred


def _check_outputs(pred: Any, video: bool, where: str, problems: list[str]) -> bool:
    """Keys, shapes, dtypes and ``prob == sigmoid(cls)`` of a forward output."""
    if not isinstance(pred, Mapping):
        _add(problems, where, f"returns {type(pred).__name__}", "return a dict (pred_dict)")
        return False
    expected = ["cls", "prob", "feat"] + (["frame_cls", "frame_prob"] if video else [])
    missing = [key for key in expected if not torch.is_tensor(pred.get(key))]
    if missing:
        _add(
            problems,
            where,
            f"has no tensor {', '.join(missing)} (keys: {sorted(pred)})",
            "return cls (logit of fake), prob = sigmoid(cls), feat"
            + (" and frame_cls / frame_prob (B, T) for a video detector" if video else ""),
        )
        return False
    ok = True
    shapes = {"cls": (BATCH,), "frame_cls": (BATCH, FRAMES)}
    for logits, probs in (
        (("cls", "prob"), ("frame_cls", "frame_prob")) if video else [("cls", "prob")]
    ):
        ok &= _check_pair(pred[logits], pred[probs], logits, probs, shapes[logits], where, problems)
    if pred["feat"].dim() == 0 or pred["feat"].shape[0] != BATCH:
        _add(
            problems,
            where,
            f"feat has shape {tuple(pred['feat'].shape)}",
            f"return one row of features per sample, shape ({BATCH}, ...)",
        )
    if not video and ("frame_cls" in pred or "frame_prob" in pred):
        _add(
            problems,
            where,
            "a frame detector returns frame_cls / frame_prob",
            "leave them out (they mark a video detector, input_mode = 'video')",
        )
    return ok


def _check_pair(
    logits: torch.Tensor,
    probs: torch.Tensor,
    logit_key: str,
    prob_key: str,
    shape: tuple[int, ...],
    where: str,
    problems: list[str],
) -> bool:
    if tuple(logits.shape) != shape or not logits.dtype.is_floating_point:
        _add(
            problems,
            where,
            f"{logit_key} is {logits.dtype} of shape {tuple(logits.shape)}, expected a floating "
            f"tensor of shape {shape}",
            "return one logit of fake per sample"
            + (" and frame" if logit_key == "frame_cls" else "")
            + " (e.g. logits.squeeze(-1))",
        )
        return False
    if tuple(probs.shape) != shape or not torch.allclose(
        probs.float(), torch.sigmoid(logits.float()), rtol=1e-4, atol=1e-5
    ):
        _add(
            problems,
            where,
            f"{prob_key} is not sigmoid({logit_key})",
            f"return {prob_key} = torch.sigmoid({logit_key})",
        )
    return True


def _check_augment_features(
    detector: BaseDetector, features: torch.Tensor, labels: torch.Tensor, problems: list[str]
) -> None:
    try:
        rows, row_labels = detector.augment_features(
            features, labels, torch.Generator().manual_seed(0)
        )
    except Exception as error:
        _raised(
            problems, "augment_features", error, "return (features, labels) of the bank, augmented"
        )
        return
    copies = detector.feature_copies
    want = (copies * len(features), *features.shape[1:])
    if tuple(rows.shape) != want or tuple(row_labels.shape) != (want[0],):
        _add(
            problems,
            "augment_features",
            f"returns features {tuple(rows.shape)} and labels {tuple(row_labels.shape)} for "
            f"{len(features)} rows, with feature_copies = {copies}",
            f"return feature_copies × the rows ({want}) with one label each, or set "
            f"feature_copies to the number of copies made",
        )


def _check_round_trip(
    cls: type,
    options: dict,
    detector: BaseDetector,
    train_data: dict,
    scored: dict,
    problems: list[str],
) -> None:
    """A checkpoint's weights, loaded into a freshly built detector, give the same scores."""
    try:
        state = detector.trainable_state_dict()
        if detector.uses_feature_bank and any(key.startswith("backbone.") for key in state):
            _add(
                problems,
                "trainable_state_dict",
                "holds the frozen backbone's weights",
                "leave out the backbone.* keys: a frozen backbone is rebuilt from its config",
            )
        torch.manual_seed(1)  # other initial weights: only the state dict can make them equal
        fresh = cls(**options)
        fresh.load_trainable_state_dict(state)
        fresh.eval()
        data = {key: value for key, value in train_data.items() if key != "label"}
        with torch.no_grad():
            again = fresh(data, inference=True)["cls"]
    except Exception as error:
        _raised(
            problems,
            "trainable_state_dict / load_trainable_state_dict",
            error,
            "return every trained weight and load it back (BaseDetector's pair does)",
        )
        return
    if not torch.allclose(again, scored["cls"], rtol=1e-4, atol=1e-5):
        diff = float((again - scored["cls"]).abs().max())
        _add(
            problems,
            "trainable_state_dict / load_trainable_state_dict",
            f"a reloaded detector scores differently (max difference {diff:.3g})"
            if math.isfinite(diff)
            else "a reloaded detector scores differently",
            "include every trained weight and buffer in trainable_state_dict",
        )
