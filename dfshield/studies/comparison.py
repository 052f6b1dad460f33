"""Side-by-side comparison of detectors under one protocol (the SP Cup paper's Table II, your data):
same data, splits, epochs, batch, seed and selection for all; frozen backbones share one bank.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict
from pathlib import Path
from typing import Any

from dfshield.config import RunConfig, load_run_config
from dfshield.errors import ConfigError
from dfshield.fileio import write_json_atomic

PROTOCOL_SECTIONS = ("data", "train")


def run_name(detector: str) -> str:
    """The table row and folder name of a detector config: its name, or a YAML file's stem."""
    path = Path(detector)
    return path.stem if path.suffix in (".yaml", ".yml") or path.is_file() else str(detector)


def load_comparison_configs(
    detectors: list[str],
    protocol: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    extra_layers: list[tuple[str, dict]] | None = None,
) -> dict[str, RunConfig]:
    """One run config per detector name, all sharing the protocol; all loaded before any trains."""
    if not detectors:
        raise ConfigError(
            "compare needs at least one detector, e.g. --detectors clip_linear robust_clip spcup"
        )
    if len(set(detectors)) != len(detectors):
        raise ConfigError(f"a detector is listed twice in {detectors}")
    configs = {
        run_name(name): load_run_config(
            protocol, name, overrides, extra_layers, their_settings=False
        )
        for name in detectors
    }
    if len(configs) != len(detectors):
        raise ConfigError(f"two detector configs share a file name in {detectors}; rename one")
    reference_name, reference = next(iter(configs.items()))
    for name, cfg in configs.items():
        for section in PROTOCOL_SECTIONS:
            ours, theirs = asdict(getattr(cfg, section)), asdict(getattr(reference, section))
            if ours != theirs:
                changed = sorted(k for k in ours if ours[k] != theirs.get(k))
                raise ConfigError(
                    f"detector config '{name}' sets protocol values "
                    f"({section}.{', '.join(changed)}) that differ from '{reference_name}'; in a "
                    f"comparison the protocol is shared — move them to the protocol file or to "
                    f"--set"
                )
        _warn_their_settings_overridden(name, cfg)
    return configs


def _warn_their_settings_overridden(name: str, cfg: RunConfig) -> None:
    """A warning naming each loader setting of a wrapped detector's YAML the protocol overrides."""
    from dfshield.detectors.deepfakebench_wrapper import their_settings_layer

    theirs = their_settings_layer(cfg.detector)
    if theirs is None:
        return
    ours = asdict(cfg.data)
    differ = []
    for key, value in theirs[1]["data"].items():
        for sub, wanted in value.items() if isinstance(value, dict) else [("", value)]:
            have = ours[key][sub] if sub else ours[key]
            if have != _plain(wanted):
                differ.append(f"data.{key}{'.' + sub if sub else ''}={wanted!r}")
    if differ:
        warnings.warn(
            f"'{name}': {theirs[0]} ask for {', '.join(differ)}; a comparison shares the "
            f"protocol's data section, so its values are used for every detector. To use "
            f"theirs, set them in the protocol (e.g. configs/protocols/deepfakebench.yaml)",
            stacklevel=2,
        )


def _plain(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def has_wrapped(configs: dict[str, RunConfig]) -> bool:
    """Whether a wrapped DeepfakeBench detector is compared (the table adds their metrics)."""
    from dfshield.detectors.deepfakebench_wrapper import wrapped_parts

    return any(wrapped_parts(cfg.detector) is not None for cfg in configs.values())


def run_comparison(
    configs: dict[str, RunConfig],
    run_dir: Path,
    feature_cache: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Train, select and test every detector; write results.md/.csv/.json and roc.png."""
    from dfshield.engine.feature_bank import feature_cache_dir
    from dfshield.engine.run_folder import RunFolderError, previous_run
    from dfshield.engine.trainer import Trainer
    from dfshield.eval.results import plot_roc, write_results

    run_dir = Path(run_dir)
    reference = next(iter(configs.values()))
    cache = feature_cache_dir(reference, feature_cache)
    for name in configs if not overwrite else ():  # before the first detector trains
        previous = previous_run(run_dir / name)
        if previous:
            raise RunFolderError(
                f"{run_dir / name} already holds a run ({', '.join(previous)}); a comparison "
                "cannot resume one: replace the runs with --overwrite, or choose another --run-dir"
            )
    rows, curves, is_main = [], {}, True
    for name, cfg in configs.items():
        trainer = Trainer(cfg, run_dir / name, feature_cache=cache, overwrite=overwrite)
        summary = trainer.fit()
        result = trainer.test()
        is_main = trainer.dist.is_main
        metrics = result["metrics"]
        rows.append({"detector": name, **metrics, "best_epoch": summary["best_epoch"]})
        curves[name] = (result["scores"], result["labels"])
    if is_main:
        write_results(
            run_dir, rows, title="Comparison on the test split", deepfakebench=has_wrapped(configs)
        )
        plot_roc(run_dir / "roc.png", curves)
        protocol = {section: asdict(getattr(reference, section)) for section in PROTOCOL_SECTIONS}
        write_json_atomic(run_dir / "protocol.json", protocol)
    return rows
