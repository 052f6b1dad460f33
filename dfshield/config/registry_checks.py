"""Checks of a run config's registry sections (``detector`` with its ``backbone``, ``loss``,
``optimizer``, ``scheduler``) against their constructors, before anything is built."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from dfshield.config.run_config import BUILD_TIME, REGISTRY_SECTIONS
from dfshield.errors import ConfigError

if TYPE_CHECKING:
    from dfshield.registry import Registry


def check_sections(cfg: Mapping[str, Any], source: str) -> None:
    """Check every registry section of a (merged) run config against its constructor.

    A section without a ``name`` is skipped until a detector is named (a protocol layer may set
    options that a detector file completes); after that it is an error. ``source`` is the layer
    named in errors.
    """
    detector = cfg.get("detector")
    name = detector.get("name") if isinstance(detector, dict) else None
    for kind in REGISTRY_SECTIONS:
        section = cfg.get(kind)
        if not isinstance(section, dict) or not section:
            continue
        if "name" not in section:
            if name is None:
                continue
            raise ConfigError(
                f"{kind} in {source} has options but no 'name'; name the {kind} "
                f"(`dfshield list` shows the registered names)"
            )
        if kind == "loss" and isinstance(name, str) and _detector_builds_loss(name, section):
            continue
        _check_entry(kind, section, kind, source)


def _check_entry(kind: str, cfg: dict, where: str, source: str) -> None:
    try:
        _registry(kind).check(cfg, BUILD_TIME.get(kind))
    except ConfigError as error:
        raise type(error)(f"{where} in {source}: {error}") from error
    for key, sub_kind, sub in nested_sections(kind, cfg):
        if isinstance(sub, dict):
            _check_entry(sub_kind, sub, f"{where}.{key}", source)


def nested_sections(kind: str, cfg: dict) -> Iterator[tuple[str, str, Any]]:
    """``(key, kind, config)`` of the registry sections inside a section: a detector's
    ``backbone``, ``cvar``'s ``base`` loss, ``composite``'s ``terms`` (less their ``weight``),
    ``sam``'s ``base`` optimizer."""
    name = cfg.get("name")
    if kind == "detector" and "backbone" in cfg:
        yield "backbone", "backbone", cfg["backbone"]
    elif (kind, name) in (("loss", "cvar"), ("optimizer", "sam")) and "base" in cfg:
        yield "base", kind, cfg["base"]
    elif (kind, name) == ("loss", "composite") and isinstance(cfg.get("terms"), list):
        for i, term in enumerate(cfg["terms"]):
            if isinstance(term, dict):
                yield f"terms[{i}]", "loss", {k: v for k, v in term.items() if k != "weight"}


def _detector_builds_loss(detector: str, loss: dict) -> bool:
    """True when ``loss`` names no registered loss and the detector overrides ``build_loss``."""
    from dfshield.detectors.base import BaseDetector

    if not isinstance(loss["name"], str) or loss["name"] in _registry("loss"):
        return False
    if detector not in _registry("detector"):
        return False
    entry = _registry("detector").get(detector)
    return getattr(entry, "build_loss", BaseDetector.build_loss) is not BaseDetector.build_loss


def _registry(kind: str) -> Registry:
    from dfshield.registry import BACKBONE, DETECTOR, LOSS, OPTIMIZER, SCHEDULER

    registries = {
        "detector": DETECTOR,
        "backbone": BACKBONE,
        "loss": LOSS,
        "optimizer": OPTIMIZER,
        "scheduler": SCHEDULER,
    }
    return registries[kind]
