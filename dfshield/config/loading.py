"""Loading a run config: the layers (protocol < detector < ``--set``) checked, merged and built."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dfshield._suggest import did_you_mean
from dfshield.config.layers import file_layer, merge, parse_overrides
from dfshield.config.registry_checks import check_sections
from dfshield.config.run_config import RunConfig
from dfshield.detectors.deepfakebench_wrapper import check_wrapped, their_settings_layer
from dfshield.errors import ConfigError
from dfshield.schema import check, from_dict


def build_config(layers: Sequence[tuple[str, dict]], cls: type = RunConfig) -> Any:
    """Check each ``(source, mapping)`` layer against ``cls``, merge them in order, and build it.

    For a ``RunConfig``, each layer's ``imports`` are imported and the registry sections are
    checked (:func:`check_sections`) as soon as the layer is merged, so an error names the layer
    that caused it.
    """
    merged: dict = {}
    imports: list[str] = []
    for source, data in layers:
        check(cls, data, source)
        merged = merge(merged, data)
        if issubclass(cls, RunConfig):
            new = [spec for spec in data.get("imports") or [] if spec not in imports]
            _import(new, source)
            imports += new
            merged["imports"] = list(imports)
            check_sections(merged, source)
    return from_dict(cls, merged, "the merged configuration")


def saved_run_config(
    saved: dict,
    path: str | os.PathLike,
    layers: Sequence[tuple[str, dict]] = (),
    *,
    source: str | None = None,
) -> RunConfig:
    """The run config saved in a checkpoint or a run folder's ``config.json`` (at ``path``), with
    ``layers`` on top. Its ``imports`` are refused unless already imported
    (:func:`~dfshield.plugins.check_saved_imports`): reading a file never runs the code it names.
    ``source`` names the saved layer in errors (default ``"<path> (saved config)"``)."""
    from dfshield.plugins import check_saved_imports

    check_saved_imports(saved, str(path))
    return build_config([(source or f"{path} (saved config)", saved), *layers])


def _import(specs: list[str], source: str) -> None:
    from dfshield.plugins import import_plugins

    try:
        import_plugins(specs)
    except ConfigError as error:
        raise type(error)(f"imports in {source}: {error}") from error


def load_run_config(
    protocol: str | os.PathLike | None = None,
    detector: str | os.PathLike | None = None,
    overrides: list[str] | None = None,
    extra_layers: list[tuple[str, dict]] | None = None,
    their_settings: bool = True,
) -> RunConfig:
    """Load protocol file < detector file < ``--set`` overrides into a checked ``RunConfig``.

    ``detector`` is a path or the name of a file in ``configs/detectors/``. ``extra_layers``
    (``(source, mapping)`` pairs) come last: commands such as ``dfshield demo`` use them. A
    wrapped DeepfakeBench detector is checked as far as it can be without building it (their
    class, their YAML, their ``pretrained`` file), so that a study stops before it trains.
    Its YAML's loader settings (augmentation, ``frame_num``) form a layer just above the
    protocol (:func:`~dfshield.detectors.deepfakebench_wrapper.their_settings_layer`) unless
    ``their_settings`` is false (a comparison, whose protocol is shared).
    """
    layers = [file_layer(Path(protocol) if protocol else config_dir() / "protocol.yaml")]
    if detector is not None:
        layers.append(file_layer(find_detector_config(detector)))
    if overrides:
        layers.append(("--set", parse_overrides(overrides)))
    layers.extend(extra_layers or [])
    cfg = build_config(layers)
    check_wrapped(cfg.detector)
    theirs = their_settings_layer(cfg.detector) if their_settings else None
    return cfg if theirs is None else build_config([layers[0], theirs, *layers[1:]])


def config_dir() -> Path:
    """The folder of the shipped YAML files (``$DFSHIELD_CONFIG_DIR`` overrides it)."""
    candidates = []
    if os.environ.get("DFSHIELD_CONFIG_DIR"):
        candidates.append(Path(os.environ["DFSHIELD_CONFIG_DIR"]))
    candidates.append(Path(__file__).resolve().parents[2] / "configs")  # source checkout
    candidates.append(Path(sys.prefix) / "share" / "dfshield" / "configs")  # wheel install
    for candidate in candidates:
        if (candidate / "protocol.yaml").is_file():
            return candidate
    raise ConfigError(
        "cannot find dfshield's configs folder (looked in "
        f"{', '.join(map(str, candidates))}); set DFSHIELD_CONFIG_DIR to it"
    )


def find_detector_config(name_or_path: str | os.PathLike) -> Path:
    """A detector YAML by path, or by name in ``configs/detectors/``."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"detector config file not found: {path}")
        return path
    folder = config_dir() / "detectors"
    shipped = sorted(p.stem for p in folder.glob("*.yaml"))
    candidate = folder / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ConfigError(
            f"no detector config named '{name_or_path}'.{did_you_mean(str(name_or_path), shipped)}"
            f" Shipped configs: {', '.join(shipped)}; or pass a YAML path"
        )
    return candidate
