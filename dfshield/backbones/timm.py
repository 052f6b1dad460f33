"""Any timm image model as a pooled-feature backbone, frozen or trained end to end (``ddln``'s
ImageNet ResNet-50, docs/methods.md §4). A weights file must fit but for the classifier.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import torch

from dfshield.backbones.base import Backbone, check_precision
from dfshield.data.pixels import FramePreprocess
from dfshield.errors import ConfigError
from dfshield.registry import BACKBONE

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors")


def _timm():
    import timm

    return timm


@BACKBONE.register_module(module_name="timm")
class TimmBackbone(Backbone):
    """Any timm image model (ResNet-50 by default) as a pooled-feature backbone.

    Args:
        model: timm model name, optionally with a pretrained tag (``resnet50.tv_in1k``).
        pretrained: timm's ImageNet weights (Hugging Face hub or its cache; offline, an error says
            how to give the file); false: random init seeded by ``init_seed``.
        freeze: a fixed extractor (eval mode, feature bank) instead of training with the detector.
        checkpoint: a local ``.pth``/``.pt``/``.bin``/``.safetensors`` file, over ``pretrained``.
        cache_dir: where timm keeps downloaded weights (null: its default cache).
        image_size: side of the square input; null: the model's default (ResNet-50: 224).
        init_seed: the seed of a random init (``pretrained: false``).
        precision, strict_fp32: with ``freeze: true``, the frozen precision
            (:mod:`dfshield.backbones.base`); a trained backbone follows ``train.amp``.
    """

    def __init__(
        self,
        model: str = "resnet50",
        pretrained: bool = True,
        freeze: bool = False,
        checkpoint: str | None = None,
        cache_dir: str | None = None,
        image_size: int | None = None,
        init_seed: int = 0,
        precision: str = "fp32",
        strict_fp32: bool = False,
    ):
        super().__init__()
        timm = _timm()
        _check_options(timm, model, pretrained, freeze, checkpoint, image_size, init_seed)
        self.precision, self.strict_fp32 = check_precision(
            "backbone 'timm'", precision, strict_fp32
        )
        if not freeze and (precision, strict_fp32) != ("fp32", False):
            raise ConfigError(
                "backbone 'timm': 'precision' and 'strict_fp32' apply to a frozen backbone "
                "(freeze: true); a trained backbone follows train.amp — remove them or set "
                "freeze: true"
            )
        self.model_name, self.pretrained, self.freeze = model, bool(pretrained), bool(freeze)
        self.checkpoint = str(Path(str(checkpoint)).expanduser()) if checkpoint else None
        self.cache_dir, self.init_seed = cache_dir, int(init_seed)
        self.model = _create(
            timm,
            model,
            self.pretrained and not self.checkpoint,
            image_size,
            cache_dir,
            self.init_seed,
        )
        if self.checkpoint:
            _load_checkpoint(self.model, self.checkpoint)
        self._weights = self._weights_identity()

        data_config = timm.data.resolve_model_data_config(self.model)
        self.image_size = int(image_size or data_config["input_size"][-1])
        self.mean = tuple(float(v) for v in data_config["mean"])
        self.std = tuple(float(v) for v in data_config["std"])
        self.feature_dim = int(cast(int, self.model.num_features))  # set by timm, undeclared
        self.trainable = not self.freeze
        self._preprocess = FramePreprocess(
            functools.partial(resize_square, size=self.image_size),
            self.mean,
            self.std,
            self._preprocess_description(),
        )
        if self.freeze:
            self.model.requires_grad_(False)
            self.eval()

    # -- mode ------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> TimmBackbone:
        """A frozen backbone stays in eval mode (fixed BatchNorm statistics, no dropout)."""
        return super().train(mode and not self.freeze)

    # -- preprocessing ---------------------------------------------------------------------
    @property
    def preprocess(self) -> FramePreprocess:
        """:func:`resize_square`, then ``(x / 255 - mean) / std`` on the device (a
        ``FramePreprocess``)."""
        return self._preprocess

    def _preprocess_description(self) -> str:
        return (
            f"resize {self.image_size}x{self.image_size} (cv2 INTER_AREA down / INTER_CUBIC up), "
            f"/255, mean={self.mean}, std={self.std}"
        )

    # -- features --------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feature_dim)``; a clip batch ``(B, T, 3, H, W)`` is encoded
        as one batch and returned as ``(B, T, feature_dim)``."""
        if images.dim() not in (4, 5) or images.shape[-3] != 3:
            raise ValueError(
                f"timm backbone expects images (B, 3, H, W) or clips (B, T, 3, H, W), "
                f"got shape {tuple(images.shape)}"
            )
        leading = images.shape[:-3]
        flat = images.reshape(-1, *images.shape[-3:])
        if self.freeze:
            features = self.encode_frozen(self.model, flat)
        else:
            features = self.model(flat)
        return features.reshape(*leading, features.shape[-1])

    # -- identity --------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, Any]:
        timm = _timm()
        return {
            "backbone": "timm",
            "model": self.model_name,
            "weights": self._weights,
            "timm_version": timm.__version__,
            "image_size": self.image_size,
            "preprocess": self._preprocess_description(),
            "precision": self.compute_precision() if self.freeze else "fp32",
        }

    def _weights_identity(self) -> str:
        if self.checkpoint:
            path = Path(self.checkpoint)
            stat = path.stat()
            digest = hashlib.sha256(
                f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()
            ).hexdigest()
            return f"file:{path.name}:{digest[:16]}"
        if self.pretrained:
            cfg = _pretrained_cfg(self.model)
            source = cfg.get("hf_hub_id") or cfg.get("url") or ""
            return f"timm:{cfg.get('architecture')}.{cfg.get('tag')}:{source}"
        return f"random-init-seed-{self.init_seed}"

    def extra_repr(self) -> str:
        return (
            f"model={self.model_name!r}, weights={self._weights!r}, freeze={self.freeze}, "
            f"image_size={self.image_size}, feature_dim={self.feature_dim}"
        )


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """HxWx3 uint8 RGB → ``size x size`` x3 uint8: the whole image resized (faces are already
    cropped, so no centre crop), cv2 INTER_AREA when shrinking, INTER_CUBIC when enlarging."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"preprocess expects an HxWx3 RGB array, got "
            f"{getattr(rgb, 'shape', type(rgb).__name__)}"
        )
    if rgb.shape[:2] == (size, size):
        return rgb
    shrink = rgb.shape[0] * rgb.shape[1] >= size * size
    return cv2.resize(
        rgb, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    )


# -- construction helpers --------------------------------------------------------------------


def _check_options(timm, model, pretrained, freeze, checkpoint, image_size, init_seed) -> None:
    if not isinstance(model, str) or not timm.is_model(model):
        from dfshield._suggest import did_you_mean

        raise ConfigError(
            f"unknown timm model {model!r} (backbone.model)."
            f"{did_you_mean(str(model), timm.list_models())} "
            f"List the names with: python -c \"import timm; print(timm.list_models('resnet*'))\""
        )
    for key, value in (("pretrained", pretrained), ("freeze", freeze)):
        if not isinstance(value, bool):
            raise ConfigError(f"backbone.{key} must be true or false, got {value!r}")
    if image_size is not None and (
        isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1
    ):
        raise ConfigError(
            f"backbone.image_size must be a positive integer or null, got {image_size!r}"
        )
    if isinstance(init_seed, bool) or not isinstance(init_seed, int):
        raise ConfigError(f"backbone.init_seed must be an integer, got {init_seed!r}")
    if checkpoint:
        path = Path(str(checkpoint)).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"backbone.checkpoint: no file at {checkpoint}; give the path of a "
                f"local weight file ({', '.join(CHECKPOINT_SUFFIXES)})"
            )
        if not path.name.endswith(CHECKPOINT_SUFFIXES):
            raise ConfigError(
                f"backbone.checkpoint {checkpoint} must be one of "
                f"{', '.join(CHECKPOINT_SUFFIXES)} (a PyTorch state dict or safetensors)"
            )


def _create(
    timm,
    model: str,
    pretrained: bool,
    image_size: int | None,
    cache_dir: str | None,
    init_seed: int,
) -> torch.nn.Module:
    """The timm model without classifier; ImageNet weights when ``pretrained``."""
    kwargs: dict[str, Any] = {"num_classes": 0}
    pretrained_cfg = timm.get_pretrained_cfg(model)
    if image_size is not None and pretrained_cfg is not None and pretrained_cfg.fixed_input_size:
        kwargs["img_size"] = image_size  # ViT-like models build position embeddings for a size
    if cache_dir is not None and "cache_dir" in inspect.signature(timm.create_model).parameters:
        kwargs["cache_dir"] = cache_dir
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        if not pretrained:
            return timm.create_model(model, pretrained=False, **kwargs)
        try:
            return timm.create_model(model, pretrained=True, **kwargs)
        except (OSError, RuntimeError, ValueError, ImportError) as error:
            hub_id = getattr(pretrained_cfg, "hf_hub_id", None) or "timm/<model>.<tag>"
            raise ConfigError(_offline_message(model, hub_id, error)) from error


def _offline_message(model: str, hub_id: str, error: Exception) -> str:
    return (
        f"could not load the pretrained timm weights of {model!r}: {type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}\n"
        f"Without internet, fetch the weights on a machine that has it, e.g.\n"
        f"  python -c \"import timm, torch; m = timm.create_model('{model}', pretrained=True); "
        f"torch.save(m.state_dict(), '{model.split('.')[0]}.pth')\"\n"
        f"(or download model.safetensors from the Hugging Face repo {hub_id}), "
        f"copy the file here and point to it: --set detector.backbone.checkpoint=/path/to/"
        f"{model.split('.')[0]}.pth (timm's equivalent is create_model(..., "
        f"pretrained_cfg_overlay=dict(file=...))). Alternatively copy a Hugging Face cache that "
        f"holds the weights and set HF_HOME (or HF_HUB_CACHE) to it, or TORCH_HOME for weights "
        f"served by URL. Set HF_HUB_OFFLINE=1 to fail at once instead of retrying for about a "
        f"minute. For a quick test without weights use pretrained: false."
    )


def _pretrained_cfg(model: torch.nn.Module) -> dict[str, Any]:
    """The ``pretrained_cfg`` timm sets on every model it creates but declares on none."""
    return cast(dict[str, Any], model.pretrained_cfg)


def _load_checkpoint(model: torch.nn.Module, checkpoint: str) -> None:
    """Load a local weight file strictly, except for the classifier (removed: num_classes=0)."""
    from timm.models import load_state_dict

    try:
        state = load_state_dict(checkpoint, use_ema=True, weights_only=True)
    except Exception as error:  # unpickling refused, corrupt file, wrong format
        raise ConfigError(
            f"backbone.checkpoint {checkpoint} could not be read as a state dict "
            f"({type(error).__name__}: {error}); save it with torch.save("
            f"model.state_dict(), path) or as safetensors"
        ) from error
    classifiers = _pretrained_cfg(model).get("classifier") or ()
    if isinstance(classifiers, str):
        classifiers = (classifiers,)
    for name in classifiers:
        state.pop(f"{name}.weight", None)
        state.pop(f"{name}.bias", None)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatch
        raise ConfigError(
            f"backbone.checkpoint {checkpoint} does not fit timm model "
            f"{_pretrained_cfg(model).get('architecture')}: {error}"
        ) from error
    if missing or unexpected:
        raise ConfigError(
            f"backbone.checkpoint {checkpoint} does not fit timm model "
            f"{_pretrained_cfg(model).get('architecture')}: missing keys {missing[:5]}"
            f"{' …' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{' …' if len(unexpected) > 5 else ''}. Use weights saved from the same architecture."
        )
