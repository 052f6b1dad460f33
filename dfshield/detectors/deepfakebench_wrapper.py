"""``deepfakebench``: a DeepfakeBench detector class trained and scored by dfshield.

Finding their class, reading their YAML and adapting inputs, outputs, losses and checkpoints are
one adapter. How to use it and what maps to what: docs/deepfakebench.md, "From DeepfakeBench".
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dfshield.backbones.base import Backbone
from dfshield.detectors.base import BaseDetector
from dfshield.errors import ConfigError
from dfshield.losses import fake_logit
from dfshield.registry import BACKBONE, DETECTOR

#: the keys of a DeepfakeBench config that say how their loader prepares images
INPUT_KEYS = ("resolution", "mean", "std")
#: where the DeepfakeBench network's own ``state_dict`` keys sit in the wrapper's
NETWORK_PREFIX = "backbone.model."
#: the DeepfakeBench members a class needs to be run by the wrapper
THEIR_METHODS = ("features", "classifier", "forward", "get_losses")
CLASS_HELP = (
    "a name in DeepfakeBench's registry (with DeepfakeBench/training on PYTHONPATH) or "
    "package.module:ClassName (importable through --import, imports: or PYTHONPATH)"
)


# -- their config and class ---------------------------------------------------------------------
def load_deepfakebench_config(spec: Any) -> tuple[dict, str]:
    """``(config dict, where it came from)`` of a DeepfakeBench detector YAML path or mapping."""
    from dfshield.yaml_files import read_yaml

    if isinstance(spec, Mapping):
        return dict(spec), "the detector's config mapping"
    if isinstance(spec, (str, Path)) and str(spec):
        return read_yaml(Path(spec).expanduser(), repeated_keys="last"), str(spec)
    raise ConfigError(
        f"a DeepfakeBench config must be the path of their detector YAML (e.g. "
        f"DeepfakeBench/training/config/detector/xception.yaml) or a mapping, got {spec!r}"
    )


def input_settings(config: Mapping[str, Any], source: str) -> tuple[int, tuple, tuple]:
    """``(resolution, mean, std)`` of a DeepfakeBench config (their loader resizes to
    ``resolution``², then ``(x / 255 - mean) / std``); a missing or bad key is a ConfigError."""
    missing = [key for key in INPUT_KEYS if key not in config]
    if missing:
        raise ConfigError(
            f"the DeepfakeBench config {source} has no {', '.join(missing)}; add what their "
            f"loader uses, e.g. resolution: 256, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] "
            f"(as in their training/config/detector/*.yaml)"
        )
    resolution = config["resolution"]
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ConfigError(
            f"resolution in the DeepfakeBench config {source} must be a positive number of "
            f"pixels, got {resolution!r}"
        )
    values = {}
    for key in ("mean", "std"):
        value = config[key]
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 3
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or (key == "std" and min(value) <= 0)
        ):
            raise ConfigError(
                f"{key} in the DeepfakeBench config {source} must be three numbers (per RGB "
                f"channel{', each > 0' if key == 'std' else ''}), got {value!r}"
            )
        values[key] = tuple(float(v) for v in value)
    return resolution, values["mean"], values["std"]


def is_deepfakebench_class(obj: Any) -> bool:
    """True for a DeepfakeBench-style detector class: an ``nn.Module`` (not a dfshield
    ``BaseDetector``) with their methods and a constructor that takes ``config``."""
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)) or issubclass(obj, BaseDetector):
        return False
    if not all(callable(getattr(obj, method, None)) for method in THEIR_METHODS):
        return False
    try:
        return "config" in inspect.signature(obj.__init__).parameters
    except (TypeError, ValueError):
        return False


def resolve_class(spec: Any) -> type:
    """The DeepfakeBench detector class named by ``spec`` (one of :data:`CLASS_HELP`)."""
    if inspect.isclass(spec):
        found = spec
    elif isinstance(spec, str) and spec.strip():
        found = _by_path(spec.strip()) if ":" in spec else _by_name(spec.strip())
    else:
        raise ConfigError(f"detector 'deepfakebench': class must be {CLASS_HELP}; got {spec!r}")
    if not is_deepfakebench_class(found):
        raise ConfigError(
            f"detector 'deepfakebench': {spec!r} is {found!r}, not a DeepfakeBench-style detector "
            f"class (an nn.Module with {', '.join(THEIR_METHODS)} and a constructor (config)); "
            f"a dfshield detector is named directly: detector: {{name: ...}}"
        )
    return found


def _by_path(spec: str) -> type:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"detector 'deepfakebench': cannot import module '{module_name}' of class '{spec}' "
            f"({error}); add its folder to PYTHONPATH, or --import its file"
        ) from error
    if not hasattr(module, attribute):
        raise ConfigError(
            f"detector 'deepfakebench': module '{module_name}' has no '{attribute}' (class "
            f"'{spec}'); write the class name after the colon"
        )
    return getattr(module, attribute)


def _by_name(name: str) -> type:
    """A name of DeepfakeBench's registry (importing their ``detectors`` package when the name
    is not registered yet), else a DeepfakeBench-style entry of dfshield's ``DETECTOR``."""
    for attempt in ("metrics.registry", "detectors"):
        registry = _their_registry(attempt)
        if registry is not None and name in registry:
            return registry[name]
    if name in DETECTOR and is_deepfakebench_class(DETECTOR.get(name)):
        return DETECTOR.get(name)
    raise ConfigError(
        f"detector 'deepfakebench': class '{name}' is not in DeepfakeBench's registry "
        f"(metrics.registry.DETECTOR{' is not importable' if _their_registry() is None else ''})"
        f" nor a DeepfakeBench-style class in dfshield's DETECTOR. Give {CLASS_HELP}"
    )


def _their_registry(load: str = "metrics.registry") -> dict | None:
    """DeepfakeBench's ``DETECTOR`` entries after importing ``load``; None when their code is
    not importable (an error inside it is raised). A namespace package named like theirs is not
    imported: left in ``sys.modules``, it would hide their package once it is on the path."""
    try:
        spec = importlib.util.find_spec(load.partition(".")[0])
        if spec is not None and spec.origin is None:
            return None
        importlib.import_module(load)
        registry = importlib.import_module("metrics.registry").DETECTOR
    except ModuleNotFoundError as error:
        if error.name in ("metrics", "metrics.registry", "detectors"):
            return None
        raise _import_failed(load, error) from error
    except AttributeError:
        return None
    except Exception as error:
        raise _import_failed(load, error) from error
    entries = getattr(registry, "data", None)
    return dict(entries) if isinstance(entries, Mapping) else None


def _import_failed(module: str, error: Exception) -> ConfigError:
    return ConfigError(
        f"importing DeepfakeBench's {module} failed: {type(error).__name__}: {error}; install "
        f"what their code needs (their install.sh), or name the class as "
        f"package.module:ClassName to import only its own module"
    )


def class_option(options: Mapping[str, Any], owner: str) -> Any:
    """The ``class`` option of the wrapper's section; any other key is an error."""
    unknown = sorted(set(options) - {"class"})
    if unknown:
        raise ConfigError(
            f"{owner} has no option {', '.join(map(repr, unknown))}; its options: class "
            f"({CLASS_HELP}) and config (their detector YAML or a mapping)"
        )
    if "class" not in options:
        raise ConfigError(f"{owner} needs class: {CLASS_HELP}")
    return options["class"]


#: suffixes of a ``pretrained`` value that is a weights file (their prose and URLs are not)
WEIGHT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".pkl", ".safetensors", ".tar")


def wrapped_parts(section: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """``(class, config)`` of a detector section that runs a DeepfakeBench class (``name:
    deepfakebench``, or the name of such a class registered in ``DETECTOR``); None otherwise."""
    name = section.get("name")
    if name == "deepfakebench":
        return section.get("class"), section.get("config")
    if isinstance(name, str) and name in DETECTOR and is_deepfakebench_class(DETECTOR.get(name)):
        return DETECTOR.get(name), section.get("config")
    return None


def check_wrapped(section: Mapping[str, Any]) -> None:
    """Check a wrapped DeepfakeBench detector before anything trains: class, YAML with
    ``resolution``/``mean``/``std``, an existing ``pretrained`` file. No-op for other detectors."""
    parts = wrapped_parts(section)
    if parts is None:
        return
    detector_class, config = parts
    resolve_class(class_option({"class": detector_class}, "detector 'deepfakebench'"))
    if config is None:
        raise ConfigError(
            "detector 'deepfakebench' needs config: the path of their detector YAML (e.g. "
            "DeepfakeBench/training/config/detector/xception.yaml) or the config mapping"
        )
    their_config, source = load_deepfakebench_config(config)
    input_settings(their_config, source)
    pretrained = their_config.get("pretrained")
    if (
        isinstance(pretrained, str)
        and pretrained.lower().endswith(WEIGHT_SUFFIXES)
        and "://" not in pretrained
        and not Path(pretrained).expanduser().is_file()
    ):
        raise ConfigError(
            f"pretrained in the DeepfakeBench config {source} is {pretrained!r}, which does not "
            f"exist (from {Path.cwd()}); download it as their README says, run from the folder "
            f"it is relative to (their checkout's root), or set pretrained to its path"
        )


#: their ``data_aug`` keys that dfshield's ``data.augment`` has under the same name
AUGMENT_KEYS = (
    "flip_prob",
    "rotate_prob",
    "rotate_limit",
    "blur_prob",
    "blur_limit",
    "brightness_limit",
    "contrast_limit",
)


def their_data_settings(their_config: Mapping[str, Any]) -> dict[str, Any]:
    """Their loader's settings as dfshield's ``data`` options (the table "Their settings"
    in docs/deepfakebench.md); keys they do not set are left out."""
    augment: dict[str, Any] = {}
    if isinstance(their_config.get("use_data_augmentation"), bool):
        augment["enabled"] = their_config["use_data_augmentation"]
    data_aug = their_config.get("data_aug")
    if isinstance(data_aug, Mapping):
        augment.update({key: data_aug[key] for key in AUGMENT_KEYS if key in data_aug})
        if "quality_lower" in data_aug and "quality_upper" in data_aug:
            augment["quality_range"] = [data_aug["quality_lower"], data_aug["quality_upper"]]
    if their_config.get("with_landmark") is True:
        augment["isotropic_resize"] = False
    data: dict[str, Any] = {"augment": augment} if augment else {}
    frame_num = their_config.get("frame_num")
    if isinstance(frame_num, Mapping) and {"train", "test"} <= set(frame_num):
        data["frame_num"] = {
            "train": frame_num["train"],
            "val": frame_num["test"],
            "test": frame_num["test"],
        }
    return data


def their_settings_layer(section: Mapping[str, Any]) -> tuple[str, dict] | None:
    """``(source, {"data": ...})``, the config layer of a wrapped detector's loader
    settings; None for any other detector."""
    parts = wrapped_parts(section)
    if parts is None or parts[1] is None:
        return None
    their_config, source = load_deepfakebench_config(parts[1])
    data = their_data_settings(their_config)
    return (f"the loader settings of {source}", {"data": data}) if data else None


def display_name(section: Mapping[str, Any]) -> str:
    """A detector's name in tables: a wrapped DeepfakeBench class by their ``model_name`` (else
    their YAML's file stem, else the class's name); any other detector by its ``name``."""
    parts = wrapped_parts(section)
    if parts is None or section.get("name") != "deepfakebench":
        return str(section.get("name"))
    detector_class, config = parts
    if isinstance(config, Mapping) and isinstance(config.get("model_name"), str):
        return config["model_name"]
    if isinstance(config, (str, Path)) and str(config):
        path = Path(config).expanduser()
        try:
            model_name = load_deepfakebench_config(path)[0].get("model_name")
        except ConfigError:
            model_name = None
        return model_name if isinstance(model_name, str) else path.stem
    return getattr(detector_class, "__name__", str(detector_class))


def _digest(config: Mapping[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- the network as a backbone ------------------------------------------------------------------
@BACKBONE.register_module(module_name="deepfakebench")
class DeepfakeBenchNetwork(Backbone):
    """The ``deepfakebench`` detector's backbone: a DeepfakeBench class's whole network, trained.

    Options ``class``, ``config`` as the detector's; ``forward`` returns their ``features``."""

    trainable = True

    def __init__(self, config: Any = None, **options: Any):
        super().__init__()
        detector_class = resolve_class(class_option(options, "backbone 'deepfakebench'"))
        if config is None:
            raise ConfigError(
                "detector 'deepfakebench' needs config: the path of their detector YAML (e.g. "
                "DeepfakeBench/training/config/detector/xception.yaml) or the config mapping"
            )
        their_config, source = load_deepfakebench_config(config)
        self.image_size, self.mean, self.std = input_settings(their_config, source)
        self.their_config = their_config
        self.class_name = f"{detector_class.__module__}.{detector_class.__qualname__}"
        self.config_digest = _digest(their_config)
        self.model = detector_class(their_config)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.features({"image": images, "label": None, "mask": None, "landmark": None})

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """Resized (bicubic) to ``resolution``² and normalised, as their loader does."""
        import cv2

        from dfshield.data.dataset import normalizer

        size = (self.image_size, self.image_size)
        if rgb.shape[:2] != size:
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
        return normalizer(self.mean, self.std)(rgb)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "backbone": "deepfakebench",
            "class": self.class_name,
            "config": self.config_digest,
            "resolution": self.image_size,
            "mean": list(self.mean),
            "std": list(self.std),
        }


# -- the detector -------------------------------------------------------------------------------
@DETECTOR.register_module(module_name="deepfakebench")
class DeepfakeBenchDetector(BaseDetector):
    """A DeepfakeBench detector class run by dfshield: their network, config and loss, one fake
    logit.

    Options: ``class`` (a name in their registry, or ``package.module:ClassName``) and ``config``
    (their detector YAML path or mapping); no ``backbone``: their network is built from these.
    """

    def __init__(self, config: Any = None, backbone: Any = None, **options: Any):
        if backbone is not None:
            raise ConfigError(
                "detector 'deepfakebench' builds its network from class and config; remove "
                f"detector.backbone ({backbone!r})"
            )
        detector_class = class_option(options, "detector 'deepfakebench'")
        super().__init__({"name": "deepfakebench", "class": detector_class, "config": config})

    backbone: DeepfakeBenchNetwork  # built from class and config

    @property
    def network(self) -> Any:
        """Their detector instance (a DeepfakeBench ``AbstractDetector``, untyped)."""
        return self.backbone.model

    # -- forward ---------------------------------------------------------------------------
    def forward(self, data_dict: dict, inference: bool = False) -> dict:
        theirs = self.network(_their_data(data_dict), inference=inference)
        logits = self._logit(theirs["cls"])
        feat = theirs.get("feat")
        return {
            "cls": logits,
            "prob": torch.sigmoid(logits),
            "feat": feat if torch.is_tensor(feat) else logits[:, None],
            "deepfakebench": theirs,
        }

    def classifier(self, features: torch.Tensor) -> torch.Tensor:
        return self._logit(self.network.classifier(features))

    def _logit(self, cls: torch.Tensor) -> torch.Tensor:
        """Their ``cls`` as one logit of fake: ``(B, 2)`` → ``cls[:, 1] - cls[:, 0]``."""
        logits = fake_logit(cls)
        if logits.dim() == 2 and logits.shape[1] == 1:
            logits = logits.squeeze(1)
        if logits.dim() != 1:
            raise ValueError(
                f"{self.backbone.class_name} returned cls of shape {tuple(cls.shape)}; the "
                f"deepfakebench detector reads two logits (B, 2) or one (B,) per sample"
            )
        return logits

    # -- losses ----------------------------------------------------------------------------
    def build_loss(self, config: dict, class_counts: dict | None = None) -> nn.Module | None:
        """The run's ``loss`` section when it has one; none: their own ``get_losses``."""
        if not config:
            self.loss_fn = None
            return None
        return super().build_loss(config, class_counts)

    def get_losses(self, data_dict: dict, pred_dict: dict) -> dict[str, torch.Tensor]:
        if self.loss_fn is not None:
            return super().get_losses(data_dict, pred_dict)
        losses = self.network.get_losses(_their_data(data_dict), pred_dict["deepfakebench"])
        if not isinstance(losses, Mapping) or "overall" not in losses:
            raise ValueError(
                f"{self.backbone.class_name}.get_losses returned {type(losses).__name__} without "
                f"'overall'; DeepfakeBench detectors return {{'overall': loss, ...}}"
            )
        return dict(losses)

    # -- their checkpoints -----------------------------------------------------------------
    def their_state_dict(self) -> dict[str, torch.Tensor]:
        """The network's weights under their own keys (what their ``test.py`` loads)."""
        return {
            key[len(NETWORK_PREFIX) :]: value
            for key, value in self.state_dict().items()
            if key.startswith(NETWORK_PREFIX)
        }


def _their_data(data_dict: Mapping[str, Any]) -> dict:
    """DeepfakeBench's ``data_dict`` keys of a dfshield batch (None where a key is absent)."""
    return {key: data_dict.get(key) for key in ("image", "label", "mask", "landmark")}


# a DeepfakeBench-style class registered in DETECTOR builds as this wrapper
DETECTOR.wrap(is_deepfakebench_class, into="deepfakebench", option="class")
