"""dfshield detectors inside DeepfakeBench, and checkpoints both ways (docs/deepfakebench.md,
"Into DeepfakeBench" and "Checkpoints both ways").

Over 450 lines for one job, the DeepfakeBench adapter: registration, configs and checkpoints
share its conventions (their config keys, their two logits, their state-dict keys).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
import yaml

from dfshield.detectors.base import BaseDetector
from dfshield.detectors.deepfakebench_wrapper import (
    DeepfakeBenchDetector,
    input_settings,
    load_deepfakebench_config,
)
from dfshield.errors import CheckpointError, ConfigError, DataError
from dfshield.fileio import atomic_write, json_ready, write_text_atomic

#: keys their config must have for a dfshield detector (their loader needs ``label_dict`` too)
REQUIRED_KEYS = ("resolution", "mean", "std", "label_dict")
#: the sections of ``config['dfshield']`` (``optimizer``: read by ``deepfakebench_train`` only)
OUR_SECTIONS = ("detector", "loss", "optimizer")


# -- into DeepfakeBench -------------------------------------------------------------------------
def frame_detector_names() -> list[str]:
    """dfshield's registered frame detectors (not video ones, nor the ``deepfakebench`` wrapper)."""
    from dfshield.registry import DETECTOR

    return [name for name in DETECTOR.names() if _is_frame_detector(DETECTOR.get(name))]


def _is_frame_detector(entry: Any) -> bool:
    return (
        inspect.isclass(entry)
        and issubclass(entry, BaseDetector)
        and not issubclass(entry, DeepfakeBenchDetector)
        and entry.input_mode == "frame"
    )


def register(registry: Any) -> list[str]:
    """Register every dfshield frame detector under its name into ``registry`` (their
    ``metrics.registry.DETECTOR``, or any ``register_module`` registry); returns the names."""
    names = frame_detector_names()
    for name in names:
        registry.register_module(module_name=name)(deepfakebench_class(name))
    return names


@functools.cache
def deepfakebench_class(name: str) -> type:
    """dfshield's detector ``name`` as a DeepfakeBench detector class ``Cls(config)`` (one class
    per name, so that a checkpoint's weights load into the class that made them)."""
    from dfshield.registry import DETECTOR

    base = DETECTOR.get(name)  # an unknown name lists the registered ones
    if not _is_frame_detector(base):
        raise ConfigError(
            f"dfshield detector '{name}' cannot run in DeepfakeBench: only frame detectors "
            f"register there ({', '.join(frame_detector_names())}); set model_name to one of them"
        )
    summary = (inspect.getdoc(base) or "").split("\n")[0]
    return type(base)(  # the base's metaclass (ABCMeta)
        f"{base.__name__}ForDeepfakeBench",
        (DeepfakeBenchAdapter, base),
        {
            "__module__": __name__,
            "__doc__": f"dfshield's '{name}' as a DeepfakeBench detector: {summary}",
            "dfshield_name": name,
        },
    )


if TYPE_CHECKING:
    _Detector = BaseDetector  # what the mixin is placed before
else:
    _Detector = object


class DeepfakeBenchAdapter(_Detector):
    """The mixin that makes a dfshield detector class a DeepfakeBench one (placed before it by
    :func:`deepfakebench_class`; docs/deepfakebench.md, "Into DeepfakeBench")."""

    dfshield_name: str

    def __init__(self, config: Mapping[str, Any]):
        name = self.dfshield_name
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"DeepfakeBench detector '{name}' is built from their config dict, got "
                f"{type(config).__name__}"
            )
        source = f"of model_name '{name}'"
        model_name = config.get("model_name", name)
        if model_name != name:
            raise ConfigError(
                f"the DeepfakeBench config has model_name '{model_name}' but builds dfshield's "
                f"'{name}'; set model_name: {name}, or build DETECTOR['{model_name}']"
            )
        missing = [key for key in REQUIRED_KEYS if key not in config]
        if missing:
            raise ConfigError(
                f"the DeepfakeBench config {source} has no {', '.join(missing)}; their "
                f"train.py adds label_dict from training/config/train_config.yaml, and their "
                f"detector YAMLs set resolution: 256, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5]"
            )
        their_input = input_settings(config, source)
        sections = dfshield_sections(name, config)
        options = {key: value for key, value in sections["detector"].items() if key != "name"}
        super().__init__(**options)
        self.their_input = their_input
        counts = training_class_counts(config, sections["loss"])
        self.build_loss(sections["loss"], class_counts=counts)

    def forward(self, data_dict: dict, inference: bool = False) -> dict:
        data = dict(data_dict)
        if data.get("feature") is None and data.get("image") is not None:
            data["image"] = backbone_input(data["image"], self.their_input, self.backbone)
        pred = super().forward(data, inference)
        logit = pred["cls"]
        return {**pred, "cls": two_logits(logit), "prob": torch.sigmoid(logit), "logit": logit}

    def get_losses(self, data_dict: dict, pred_dict: dict) -> dict:
        data = {**data_dict, "label": _binary(data_dict["label"])}
        losses = dict(super().get_losses(data, {**pred_dict, "cls": pred_dict["logit"]}))
        terms = getattr(self.loss_fn, "last_terms", {})
        return {**losses, **{key: value for key, value in terms.items() if key not in losses}}

    def state_dict(self, *args: Any, **kwargs: Any) -> dict:  # type: ignore[override]
        """Every weight but a frozen backbone (rebuilt by name in the constructor): their
        trainer's ``ckpt_best.pth`` of spcup is megabytes, not the 1.2 GB of ViT-L/14."""
        state = super().state_dict(*args, **kwargs)
        if self.uses_feature_bank:
            frozen = kwargs.get("prefix", "") + "backbone."
            for key in [key for key in state if key.startswith(frozen)]:
                del state[key]
        return state

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ):
        """Their ``test.py``'s strict load: a frozen backbone left out of ``state_dict`` is the
        one built by name in the constructor (a file that holds it loads as before)."""
        if self.uses_feature_bank and not any(key.startswith("backbone.") for key in state_dict):
            built = super().state_dict()
            state_dict = {
                **{key: value for key, value in built.items() if key.startswith("backbone.")},
                **state_dict,
            }
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    @torch.no_grad()
    def get_train_metrics(self, data_dict: dict, pred_dict: dict) -> dict[str, float]:
        """Batch ``acc``, ``auc``, ``eer``, ``ap``, as their trainer logs (one class: ``acc``)."""
        from dfshield.eval.metrics import compute_metrics

        labels = _binary(data_dict["label"]).cpu().numpy()
        probs = pred_dict["prob"].detach().float().cpu().double().numpy()
        if labels.min() == labels.max():
            return {"acc": float(((probs >= 0.5) == labels).mean())}
        metrics = compute_metrics(probs, labels, bootstrap=0)
        return {key: metrics[key] for key in ("acc", "auc", "eer", "ap")}


def two_logits(logit: torch.Tensor) -> torch.Tensor:
    """``(B,)`` logit of fake → their ``(B, 2)`` ``[0, logit]`` (softmax[:, 1] = its sigmoid)."""
    return torch.stack([torch.zeros_like(logit), logit], dim=-1)


def _binary(labels: torch.Tensor) -> torch.Tensor:
    """Their labels as fake = 1, real = 0 (their ``label_dict`` may number the fake classes)."""
    return (labels != 0).long()


def backbone_input(
    images: torch.Tensor, their_input: tuple[int, tuple, tuple], backbone: Any
) -> torch.Tensor:
    """Images as their loader made them → as dfshield's loader makes them for ``backbone``:
    their normalisation undone (clamped to [0, 1]), bicubic antialiased resize, the backbone's."""
    resolution, mean, std = their_input
    if tuple(images.shape[-2:]) != (resolution, resolution):
        raise DataError(
            f"images of {tuple(images.shape[-2:])} pixels reach the detector, but the "
            f"DeepfakeBench config says resolution: {resolution}; make them agree"
        )
    x = images.float()
    x = x * x.new_tensor(std)[:, None, None] + x.new_tensor(mean)[:, None, None]
    size = backbone.image_size
    if resolution != size:
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    x = x.clamp(0.0, 1.0)
    return (x - x.new_tensor(backbone.mean)[:, None, None]) / x.new_tensor(backbone.std)[
        :, None, None
    ]


def dfshield_sections(name: str, config: Mapping[str, Any]) -> dict[str, dict]:
    """``{detector, loss}``: the shipped ``configs/detectors/<name>.yaml`` with
    ``config['dfshield']`` merged over it, checked as a run config's sections are."""
    from dfshield.config import check_sections, config_dir, load_yaml, merge

    ours = config.get("dfshield") or {}
    where = "config['dfshield'] of the DeepfakeBench config"
    if not isinstance(ours, Mapping):
        raise ConfigError(
            f"{where} must be a mapping with detector: and loss: sections, got {ours!r}"
        )
    unknown = sorted(set(ours) - set(OUR_SECTIONS))
    if unknown:
        raise ConfigError(
            f"{where} has {', '.join(map(repr, unknown))}; it takes only detector:, loss: and "
            f"optimizer: (the schema of dfshield's detector YAMLs; optimizer: is used when "
            f"training through python -m dfshield.integrations.deepfakebench_train)"
        )
    shipped = config_dir() / "detectors" / f"{name}.yaml"
    base = load_yaml(shipped) if shipped.is_file() else {}
    start = {"detector": {"name": name, **base.get("detector", {})}, "loss": base.get("loss", {})}
    sections = merge(start, {key: dict(value or {}) for key, value in ours.items()})
    if sections["detector"].get("name") != name:
        raise ConfigError(
            f"{where} names detector '{sections['detector'].get('name')}', but model_name is "
            f"'{name}'; set model_name to the detector you want and drop detector.name"
        )
    check_sections(sections, where)
    return sections


def training_class_counts(config: Mapping[str, Any], loss: Mapping[str, Any]) -> dict | None:
    """``{real, fake}`` training counts for a loss that takes them (VS weights): the config's
    ``class_counts``, else counted once from their training JSONs. None for a loss without."""
    if "class_counts" in config:
        counts = config["class_counts"]
        if (
            not isinstance(counts, Mapping)
            or set(counts) != {"real", "fake"}
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in counts.values())
        ):
            raise ConfigError(
                f"class_counts in the DeepfakeBench config must be {{real: N_REAL, fake: "
                f"N_FAKE}} (training samples), got {counts!r}"
            )
        return dict(counts)
    if not _takes_counts(loss):
        return None
    return counts_from_jsons(config)


def _takes_counts(loss: Mapping[str, Any]) -> bool:
    """Whether a loss section (or one nested in it) is built with the class counts."""
    from dfshield.config import nested_sections
    from dfshield.registry import LOSS, accepted_options

    name = loss.get("name")
    if not isinstance(name, str) or name not in LOSS:
        return False
    nested = [sub for _, _, sub in nested_sections("loss", dict(loss)) if isinstance(sub, Mapping)]
    if nested:
        return any(_takes_counts(sub) for sub in nested)
    return "class_counts" in accepted_options(LOSS.get(name))[0] and "class_counts" not in loss


def counts_from_jsons(config: Mapping[str, Any]) -> dict[str, int]:
    """Training frames per class as their loader takes them: each ``train_dataset``'s videos,
    at most ``frame_num['train']`` frames each, fake = any label but 0."""
    from dfshield.data.index import read_split

    fix = (
        "set class_counts: {real: N_REAL, fake: N_FAKE} in the DeepfakeBench config, or "
        "train_dataset and dataset_json_folder (their train_config.yaml) so that dfshield counts "
        "the training frames of their dataset JSONs"
    )
    missing = [key for key in ("train_dataset", "dataset_json_folder") if key not in config]
    if missing:
        raise ConfigError(
            f"the loss needs the training class counts (VS weights) and the DeepfakeBench config "
            f"has no {', '.join(missing)}; {fix}"
        )
    datasets = config["train_dataset"]
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    frame_num = config.get("frame_num")
    limit = frame_num.get("train") if isinstance(frame_num, Mapping) else frame_num
    counts = {"real": 0, "fake": 0}
    for dataset in datasets:
        try:
            records = read_split(
                config["dataset_json_folder"],
                dataset,
                "train",
                config.get("compression", "c23"),
                config["label_dict"],
            )
        except DataError as error:
            raise DataError(f"{error}. To train without the JSONs, {fix}") from error
        for record in records:
            frames = len(record.frames) if limit is None else min(len(record.frames), int(limit))
            counts["fake" if record.label != 0 else "real"] += frames
    return counts


# -- checkpoints ---------------------------------------------------------------------------------
def export_checkpoint(
    checkpoint: str | Path, out: str | Path, *, overwrite: bool = False
) -> tuple[Path, Path]:
    """Write a dfshield checkpoint as DeepfakeBench weights: ``out``, the ``state_dict`` their
    ``test.py`` strict-loads (no frozen backbone), and ``out`` with ``.yaml``, the lines that build
    the detector. Returns both; replaces a file only with ``overwrite``, never the checkpoint."""
    from dfshield.config import saved_run_config
    from dfshield.engine.checkpoint import detector_from_checkpoint, load_checkpoint

    path, out = Path(checkpoint), Path(out)
    for target in (out, out.with_suffix(".yaml")):
        if target.exists() and target.resolve() == path.resolve():
            raise ConfigError(
                f"export would write {target} over the checkpoint it reads; name another OUT"
            )
        if target.exists() and not overwrite:
            raise ConfigError(f"{target} exists; pass --overwrite to replace it, or another OUT")
    payload = load_checkpoint(path)
    if not isinstance(payload.get("config"), dict) or "model" not in payload:
        raise CheckpointError(
            f"{path} has no run config or weights; export a best.pt or last.pt of a training run"
        )
    cfg = saved_run_config(payload["config"], path)
    name = str(payload.get("detector"))
    detector = detector_from_checkpoint(cfg.detector, payload, path)
    if isinstance(detector, DeepfakeBenchDetector):
        state, lines = detector.their_state_dict(), dict(detector.backbone.their_config)
        header = f"# the DeepfakeBench config {out.name} was trained with\n"
    else:
        if not _is_frame_detector(type(detector)):
            raise CheckpointError(
                f"{path} is a checkpoint of dfshield detector '{name}', which does not run in "
                f"DeepfakeBench: only frame detectors do ({', '.join(frame_detector_names())})"
            )
        state = detector.trainable_state_dict()
        lines = {
            "model_name": name,
            "dfshield": {"detector": cfg.detector, "loss": cfg.loss},
            "class_counts": payload.get("class_counts"),
        }
        header = (
            f"# add these lines to your DeepfakeBench detector YAML to test {out.name} with "
            f"their test.py\n# (it also needs resolution, mean, std and label_dict, as theirs "
            f"do)\n"
        )
    with atomic_write(out, "wb") as handle:
        torch.save({key: value.detach().cpu() for key, value in state.items()}, handle)
    yaml_path = out.with_suffix(".yaml")
    write_text_atomic(yaml_path, header + yaml.safe_dump(json_ready(lines), sort_keys=False))
    return out, yaml_path


def import_checkpoint(
    checkpoint: str | Path, detector_config: str | Path, protocol: str | Path | None = None
) -> dict[str, Any]:
    """A dfshield checkpoint payload (unsaved) of their ``ckpt_best.pth`` and the detector YAML
    it was trained with; the run config is ``protocol`` (default ``configs/protocol.yaml``)."""
    from dfshield.config import load_run_config
    from dfshield.detectors import build_detector

    path = Path(checkpoint)
    their_config, source = load_deepfakebench_config(detector_config)
    model_name = their_config.get("model_name")
    if not isinstance(model_name, str):
        raise ConfigError(
            f"{source} has no model_name; pass their detector YAML (with model_name: ...) as "
            f"--detector-config"
        )
    state = _their_state_dict(path)
    sections = _sections_of(model_name, their_config, detector_config)
    detector = build_detector(sections["detector"])
    try:
        if isinstance(detector, DeepfakeBenchDetector):
            detector.network.load_state_dict(state, strict=True)
        else:  # a frozen backbone may be left out: it is the one built by name
            detector.load_trainable_state_dict(state)
    except RuntimeError as error:
        raise CheckpointError(
            f"{path} does not fit DeepfakeBench detector '{model_name}' of {source}: it holds "
            f"the weights of another detector ({str(error).splitlines()[0]} ...). Pass the "
            f"detector YAML it was trained with as --detector-config"
        ) from error
    cfg = load_run_config(protocol, extra_layers=[(source, sections)])
    return {
        "detector": sections["detector"]["name"],
        "config": cfg.to_dict(),
        "epoch": None,
        "model": detector.state_dict(),
        "backbone": detector.backbone.fingerprint(),
        "imported_from": {"checkpoint": str(path), "detector_config": source},
    }


@contextlib.contextmanager
def imported_checkpoint(
    checkpoint: str | Path,
    detector_config: str | Path | None,
    protocol: str | Path | None = None,
) -> Iterator[Path]:
    """``checkpoint`` itself, or, with ``detector_config``, a temporary dfshield copy of their
    weights (:func:`import_checkpoint`), removed on exit."""
    from dfshield.engine.checkpoint import save_checkpoint

    if detector_config is None:
        yield Path(checkpoint)
        return
    payload = import_checkpoint(checkpoint, detector_config, protocol)
    with tempfile.TemporaryDirectory(prefix="dfshield-import-") as folder:
        path = Path(folder) / f"{Path(checkpoint).stem}.pt"
        save_checkpoint(path, payload)
        yield path


def their_test_folder(checkpoint: str | Path) -> Path:
    """Where ``dfshield test`` writes for their ``<run>/test/<set>/ckpt_best.pth``:
    ``<run>/dfshield_test_<set>`` (beside the checkpoint otherwise)."""
    path = Path(checkpoint).resolve()
    if path.parent.parent.name == "test":
        return path.parents[2] / f"dfshield_test_{path.parent.name}"
    return path.parent / f"dfshield_test_{path.stem}"


def _sections_of(model_name: str, their_config: dict, spec: str | Path) -> dict[str, dict]:
    """The dfshield ``{detector, loss}`` sections that rebuild their detector."""
    from dfshield.registry import DETECTOR

    if model_name in DETECTOR and _is_frame_detector(DETECTOR.get(model_name)):
        return dfshield_sections(model_name, their_config)
    config = str(Path(spec).resolve()) if isinstance(spec, (str, Path)) else their_config
    return {"detector": {"name": "deepfakebench", "class": model_name, "config": config}}


def _their_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Their checkpoint's ``state_dict`` (``{'state_dict': ...}``, DDP's ``module.`` unwrapped)."""
    from dfshield.engine.checkpoint import FORMAT

    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a weights-only checkpoint ({error}); DeepfakeBench's trainer writes "
            f"ckpt_best.pth as a plain state_dict, which this reads"
        ) from error
    if isinstance(state, dict) and state.get("format") == FORMAT:
        raise CheckpointError(
            f"{path} is a dfshield checkpoint (detector '{state.get('detector')}'), not "
            f"DeepfakeBench weights; drop --detector-config"
        )
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state_dict of tensors")
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state


__all__ = [
    "REQUIRED_KEYS",
    "backbone_input",
    "counts_from_jsons",
    "deepfakebench_class",
    "dfshield_sections",
    "export_checkpoint",
    "frame_detector_names",
    "import_checkpoint",
    "imported_checkpoint",
    "register",
    "their_test_folder",
    "training_class_counts",
    "two_logits",
]
