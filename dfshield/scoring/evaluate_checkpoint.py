"""``dfshield test``: a checkpoint scored on its run's test split and extra test sets."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dfshield.detectors.deepfakebench_wrapper import display_name, wrapped_parts
from dfshield.distributed import prepare_device
from dfshield.engine.batch_sources import batch_source
from dfshield.engine.checkpoint import detector_from_checkpoint, load_checkpoint
from dfshield.engine.run_folder import RunFolder, RunFolderError, previous_run
from dfshield.engine.splits import SplitProvider
from dfshield.eval.evaluator import Evaluator, amp_dtype
from dfshield.eval.results import plot_roc, write_results
from dfshield.scoring.extra_test_sets import (
    default_cache_dir,
    resolve_extra_tests,
    result_rows,
    run_extra_tests,
    with_extra_tests,
)
from dfshield.seeding import seed_everything


def evaluate_checkpoint(
    cfg,
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    feature_cache: str | os.PathLike | None = None,
    extra_tests: Sequence[str] = (),
) -> tuple[list[dict[str, Any]], bool]:
    """Evaluate a checkpoint on ``cfg.data``'s test split and each extra set: ``(rows, is_main)``.
    Writes ``test_*`` files, ``results.*`` and ``roc.png`` into ``out_dir`` (a ``RunFolder``),
    which must not be a training run's folder (its results would be replaced)."""
    path = Path(checkpoint)
    trained = previous_run(out_dir)
    if trained:  # its test results belong to its config.json and log.csv: never replace them
        raise RunFolderError(
            f"--out {out_dir} is a training run's folder (it holds {', '.join(trained)}); "
            f"test results written there would replace the run's own. Choose another --out, "
            f"e.g. {Path(out_dir) / 'test'}"
        )
    device, dist = prepare_device(cfg.train.device)
    payload = load_checkpoint(path, expected_detector=str(cfg.detector.get("name")))
    name = display_name(cfg.detector)
    seed_everything(cfg.train.seed)  # as the trainer builds the detector
    detector = detector_from_checkpoint(cfg.detector, payload, path).to(device)
    with RunFolder(out_dir, enabled=dist.is_main).held():
        extra_sets = resolve_extra_tests(
            extra_tests, cfg.data, default_cache_dir(cfg), progress=cfg.train.progress
        )
        splits = with_extra_tests(SplitProvider.from_data(cfg.data), extra_sets)
        batches = batch_source(detector, splits, cfg, device, dist, feature_cache)
        evaluator = Evaluator(detector, batches, amp_dtype(cfg.train.amp, device))
        header = {"detector": name, "checkpoint_epoch": payload["epoch"]}
        result = evaluator.test("test", out_dir, header)
        extras = run_extra_tests(evaluator, extra_sets, out_dir, name)
        main_set = f"{', '.join(cfg.data.test_datasets)} test"
        rows = result_rows(name, main_set, result["metrics"], extras)
        if dist.is_main:
            title = f"{name}: {main_set} split" + (" and extra test sets" if extras else "")
            wrapped = wrapped_parts(cfg.detector) is not None or "imported_from" in payload
            write_results(out_dir, rows, title=title, deepfakebench=wrapped)
            curves = {name: (result["scores"], result["labels"])}
            curves.update(
                {f"{name} on {e['test_set']}": (e["scores"], e["labels"]) for e in extras}
            )
            plot_roc(Path(out_dir) / "roc.png", curves)
    return rows, dist.is_main
