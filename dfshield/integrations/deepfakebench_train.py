"""A dfshield detector's own optimizer inside DeepfakeBench's unchanged trainer: their
``choose_optimizer`` cannot build spcup's SAM around AdamW, so this launcher runs their
``training/train.py`` as it is with the optimizer of ``dfshield: {optimizer: ...}`` (run it from
their checkout's root; docs/deepfakebench.md, "The recipe inside their trainer").
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from dfshield.errors import ConfigError

#: their training script, relative to the root of their checkout
TRAIN_SCRIPT = Path("training") / "train.py"


def recipe_optimizer(model: torch.nn.Module, config: Mapping[str, Any]) -> Any:
    """dfshield's optimizer from ``config['dfshield']['optimizer']``, or None (theirs kept).
    Their ``optimizer.type`` must be ``sam`` exactly when ours is SAM: it decides whether their
    ``train_step`` runs SAM's two passes."""
    from dfshield.optimizers import build_optimizer

    ours = (config.get("dfshield") or {}).get("optimizer")
    if ours is None:
        return None
    optimizer = build_optimizer(ours, model)
    two_steps = callable(getattr(optimizer, "first_step", None))
    their_type = (config.get("optimizer") or {}).get("type")
    if two_steps != (their_type == "sam"):
        wanted = "sam" if two_steps else "adam"
        name = ours.get("name") if isinstance(ours, Mapping) else ours
        raise ConfigError(
            f"dfshield.optimizer is {name!r} but their optimizer.type is {their_type!r}; set "
            f"optimizer.type: {wanted} in their YAML (with the {wanted}: block their "
            f"choose_optimizer reads), so that their train_step "
            f"{'runs both SAM passes' if two_steps else 'calls step()'}"
        )
    return optimizer


def use_recipe(trainer_class: type[Any]) -> None:
    """Make their ``Trainer`` take :func:`recipe_optimizer` in place of its optimizer."""
    original = trainer_class.__init__

    def __init__(self, config, model, optimizer, *args, **kwargs):
        ours = recipe_optimizer(model, config)
        original(self, config, model, optimizer if ours is None else ours, *args, **kwargs)

    trainer_class.__init__ = __init__


def main(argv: Sequence[str] | None = None) -> None:
    """Their ``training/train.py`` with ``argv`` (their arguments), under :func:`use_recipe`."""
    if not TRAIN_SCRIPT.is_file():
        raise SystemExit(
            f"no {TRAIN_SCRIPT} here ({Path.cwd()}); run this from the root of their checkout"
        )
    sys.path.insert(0, str(TRAIN_SCRIPT.parent.resolve()))
    import trainer.trainer  # their module  # type: ignore[import-not-found]

    use_recipe(trainer.trainer.Trainer)
    sys.argv = [str(TRAIN_SCRIPT), *(sys.argv[1:] if argv is None else argv)]
    runpy.run_path(str(TRAIN_SCRIPT), run_name="__main__")


if __name__ == "__main__":
    main()
