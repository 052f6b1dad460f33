"""One training loop for every detector, composed of a split provider and a batch source.

The loop is a public epoch API (``start``, ``begin_epoch``, ``end_step``, ``end_epoch``, ``finish``)
that :meth:`Trainer.fit` drives for one run and ``grouped_runs`` for several. Each epoch reseeds
every RNG from (seed, epoch), so a resumed run equals an uninterrupted one; model selection uses
validation only. docs/reliability.md lists the run-folder, checkpoint and resume guarantees.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from dfshield.config import RunConfig
from dfshield.detectors import build_detector
from dfshield.distributed import prepare_device
from dfshield.engine.batch_sources import batch_source
from dfshield.engine.checkpoint import (
    config_differences,
    format_differences,
    load_checkpoint,
    load_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from dfshield.engine.run_folder import RunFolder, RunFolderError, previous_run, remove_run
from dfshield.engine.splits import SplitProvider
from dfshield.engine.steps import EpochLosses, TrainStep, capture_mode
from dfshield.errors import CheckpointError, ConfigError, DataError, DfshieldError
from dfshield.eval.evaluator import Evaluator, amp_dtype
from dfshield.eval.metrics import threshold_at_eer
from dfshield.eval.predictions import Predictions
from dfshield.fileio import atomic_write, write_json_atomic
from dfshield.optimizers import build_optimizer, build_scheduler
from dfshield.progress import progress_bar
from dfshield.seeding import epoch_seed, seed_everything

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LOG_COLUMNS = (
    "epoch",
    "lr",
    "train_loss",
    "val_auc",
    "val_ap",
    "val_eer",
    "val_acc",
    "seconds",
    "capture",
)


class TrainingError(DfshieldError):
    """Training cannot go on (e.g. the loss became NaN)."""


def lower_is_better(metric: str) -> bool:
    return metric.endswith("eer")


class Trainer:
    """Train, select and test one detector under one run config.

    ``splits`` says where the named splits come from (default ``cfg.data``); ``overwrite`` lets
    :meth:`fit` replace a run already in ``run_dir``; :meth:`start` builds ``train_step``.
    """

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: str | Path,
        feature_cache: str | Path | None = None,
        splits: SplitProvider | None = None,
        overwrite: bool = False,
    ):
        self.cfg = cfg
        self.name = cfg.detector.get("name")
        if not self.name:
            raise ConfigError(
                "the run config has no detector.name; pick one of `dfshield list detectors`"
            )
        self.run_dir, self.overwrite = Path(run_dir), overwrite
        self.device, self.dist = prepare_device(cfg.train.device)
        self.run_folder = RunFolder(self.run_dir, enabled=self.dist.is_main)
        self.progress = cfg.train.progress and self.dist.is_main
        seed_everything(cfg.train.seed)
        self.detector = build_detector(cfg.detector).to(self.device)
        self.model: torch.nn.Module = self.detector  # DistributedDataParallel under torchrun
        self.amp_dtype = amp_dtype(cfg.train.amp, self.device)
        self.splits = splits or SplitProvider.from_data(cfg.data)
        self.batches = batch_source(
            self.detector, self.splits, cfg, self.device, self.dist, feature_cache
        )
        self.evaluator = Evaluator(self.detector, self.batches, self.amp_dtype)
        self.optimizer: torch.optim.Optimizer | None = None  # built by start()
        self.scheduler: Any = None  # build_scheduler's: any registered scheduler
        self.start_epoch = 0
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, Any]] = []
        self.steps_per_epoch = 0
        self.train_step: TrainStep | None = None
        self._replaced: list[str] = []
        self._epoch: _Epoch | None = None
        self._tensorboard: SummaryWriter | None = None

    def dataset(self, split: str):
        """The dataset of a split as this trainer reads it (from its batch source)."""
        return self.batches.dataset(split)

    def _prepare_training(self) -> None:
        """Check the splits; build the loss (with class counts), optimiser and scheduler."""
        for split in ("train", "val", "test"):
            self._require_both_classes(split)
        self.class_counts = self.dataset("train").class_counts
        self.detector.build_loss(self.cfg.loss, class_counts=self.class_counts)
        if self.dist.enabled:
            self.model = DistributedDataParallel(
                self.detector,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        self.optimizer = optimizer = build_optimizer(self.cfg.optimizer, self.detector)
        self.steps_per_epoch = self.batches.steps_per_epoch()
        self.scheduler = build_scheduler(
            self.cfg.scheduler,
            optimizer,
            epochs=self.cfg.train.epochs,
            steps_per_epoch=self.steps_per_epoch,
        )
        self.train_step = self._make_train_step(optimizer)

    def _require_both_classes(self, split: str) -> None:
        """Both classes in ``split``: training, validation and the test metrics need them."""
        counts = self.dataset(split).class_counts
        if min(counts["real"], counts["fake"]) == 0:
            missing = "fake" if counts["fake"] == 0 else "real"
            datasets = ", ".join(self.splits.split(split).datasets)
            raise DataError(
                f"the {split} split of {datasets} has no {missing} samples ({counts}); training, "
                f"model selection and the test metrics (AUC, EER) need both classes, so nothing "
                f"was trained. Rebuild the splits (dfshield build-lmdb stratifies them) or add a "
                f"dataset with {missing} videos"
            )

    # -- training --------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train for ``train.epochs``, keeping the best epoch by the validation metric. ``resume``
        continues from ``last.pt``, whose config must equal this trainer's; otherwise the folder
        must hold no run, unless ``overwrite``."""
        with self.run_folder.held():
            self.start(resume)
            assert self.train_step is not None  # start() built it
            for epoch in range(self.start_epoch, self.cfg.train.epochs):
                batches = progress_bar(
                    self.begin_epoch(epoch),
                    enabled=self.progress,
                    total=self.steps_per_epoch,
                    unit="step",
                    desc=f"{self.name} epoch {epoch + 1}/{self.cfg.train.epochs}",
                )
                for data in batches:
                    self.end_step(self.train_step(data))
                self.end_epoch()
            return self.finish()

    def start(self, resume: bool = False) -> None:
        """Get ready to train (with the run folder held): check folder, splits and config, build
        :attr:`train_step`, restore ``last.pt`` when resuming. A run already in the folder is
        removed only when the first epoch begins, so a bad split or config keeps it."""
        saved = self._last_checkpoint() if resume else None
        self._replaced = [] if resume else self._previous_run()
        self._prepare_training()
        if saved is not None:
            self._restore(saved)

    def begin_epoch(self, epoch: int) -> Iterator[dict]:
        """Reseed from (seed, epoch), enter training mode; return the epoch's training batches."""
        if self._replaced and self.dist.is_main:
            remove_run(self.run_dir)
        self._replaced = []
        seed = epoch_seed(self.cfg.train.seed, epoch)
        seed_everything(seed)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        assert self.optimizer is not None, "call start() before begin_epoch()"
        self._epoch = _Epoch(
            epoch,
            lr=self.optimizer.param_groups[0]["lr"],  # the rate this epoch runs at
            started=time.time(),
            losses=EpochLosses(self.steps_per_epoch),
        )
        self.model.train()
        return self.batches.train_batches(epoch, generator)

    def end_step(self, loss: torch.Tensor) -> None:
        """Keep a step's loss on the device (read at the epoch's end); step a per-step scheduler."""
        assert self._epoch is not None, "call begin_epoch() before end_step()"
        self._epoch.losses.add(loss)
        if self.scheduler.interval == "step":
            self.scheduler.step()

    def end_epoch(self, capture: str | None = None) -> dict[str, Any]:
        """Read the epoch's mean loss once; schedule, validate, checkpoint, log; return the log row.
        A non-finite step loss stops the run here, naming the step, before a checkpoint is written.
        ``capture`` is the capture mode the steps ran under (default: :attr:`train_step`'s)."""
        state, train_cfg = self._epoch, self.cfg.train
        assert state is not None and self.train_step is not None, "call begin_epoch() first"
        epoch, metric = state.epoch, train_cfg.selection_metric
        mean, bad_step = state.losses.read()
        if bad_step is not None:
            raise TrainingError(
                f"{self.name}: the loss became non-finite at epoch {epoch + 1}, step "
                f"{bad_step + 1} (the first such step; the epoch mean is {mean}); lower "
                f"optimizer.lr, check the data for corrupt frames, or resume from the last good "
                f"checkpoint with --resume"
            )
        if self.scheduler.interval == "epoch":
            self.scheduler.step()
        row: dict[str, Any] = {"epoch": epoch + 1, "lr": state.lr, "train_loss": mean}
        last_epoch = epoch + 1 == train_cfg.epochs
        predictions = None
        if (epoch + 1) % train_cfg.eval_every == 0 or last_epoch:
            metrics, predictions = self.evaluator.evaluate("val", bootstrap=0)
            if metric not in metrics:
                raise ConfigError(
                    f"train.selection_metric '{metric}' is not a metric; choose "
                    f"one of {sorted(k for k, v in metrics.items() if isinstance(v, float))}"
                )
            row.update({f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})
            value = float(metrics[metric])
            if self._improves(value):
                self.best_value, self.best_epoch = value, epoch + 1
                self._save("best.pt", epoch + 1, validation=predictions)
        row["seconds"] = round(time.time() - state.started, 3)
        row["capture"] = capture or self.train_step.capture
        self.history.append(row)
        self._save("last.pt", epoch + 1, validation=predictions)
        self._write_log()
        return row

    def finish(self) -> dict[str, Any]:
        """Close TensorBoard; return the run's summary (with the capture mode and any failure)."""
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        assert self.train_step is not None, "call start() before finish()"
        return {
            "best_epoch": self.best_epoch,
            f"best_val_{self.cfg.train.selection_metric}": self.best_value,
            "history": self.history,
            "capture": self.history[-1].get("capture") if self.history else None,
            "capture_failure": self.train_step.capture_failure,
        }

    def _previous_run(self) -> list[str]:
        """Files of a run already in the folder; an error unless ``overwrite``."""
        previous = previous_run(self.run_dir)
        if previous and not self.overwrite:
            raise RunFolderError(
                f"the run folder {self.run_dir} already holds a run ({', '.join(previous)}); "
                f"continue it with --resume, replace it with --overwrite "
                f"(Trainer(..., overwrite=True)), or choose another --run-dir"
            )
        return previous

    def _make_train_step(self, optimizer: torch.optim.Optimizer) -> TrainStep:
        capture = capture_mode(self.cfg.train.capture, self.device, self.model, optimizer)
        return TrainStep(self.model, self.detector, optimizer, self.amp_dtype, capture)

    def _improves(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if lower_is_better(self.cfg.train.selection_metric):
            return value < self.best_value
        return value > self.best_value

    # -- testing ---------------------------------------------------------------------------
    def test(self, checkpoint: str | Path | None = None) -> dict[str, Any]:
        """Load a checkpoint (default ``best.pt``), evaluate the test split and write its files."""
        path = Path(checkpoint) if checkpoint else self.run_dir / "checkpoints" / "best.pt"
        with self.run_folder.held():
            payload = load_checkpoint(path, expected_detector=self.name)
            load_weights(self.detector, payload, path, self.cfg.detector)
            header = {"detector": self.name, "checkpoint_epoch": payload["epoch"]}
            threshold = (payload.get("threshold") or {}).get("value")
            return self.evaluator.test("test", self.run_dir, header, threshold)

    def hold_run_folder(self):
        """Keep other runs out of the folder; hold it around ``fit`` and ``test`` together."""
        return self.run_folder.held()

    # -- checkpoints and logs --------------------------------------------------------------
    def _save(self, filename: str, epoch: int, validation: Predictions | None = None) -> None:
        """Write a checkpoint, with the validation scores and EER threshold if the epoch validated.
        ``config.json`` is written just before the first checkpoint, so a run killed earlier leaves
        no config beside nothing to resume."""
        if not self.dist.is_main:
            return
        assert self.optimizer is not None  # _save runs at an epoch's end
        if not (self.run_dir / "config.json").is_file():
            write_json_atomic(self.run_dir / "config.json", self.cfg.to_dict())
        payload = {
            "detector": self.name,
            "config": self.cfg.to_dict(),
            "epoch": epoch,
            "model": self.detector.trainable_state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng_state(),
            "history": self.history,
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "class_counts": self.class_counts,
            "backbone": self.detector.backbone.fingerprint(),
        }
        if validation is not None:
            payload["threshold"] = _eer_threshold(validation.scores, validation.labels)
            payload["validation"] = {
                "scores": torch.tensor(validation.scores, dtype=torch.float64),
                "labels": torch.tensor(validation.labels, dtype=torch.long),
            }
        try:
            save_checkpoint(self.run_dir / "checkpoints" / filename, payload)
        except CheckpointError:
            if previous_run(self.run_dir) == ["config.json"]:  # no checkpoint: nothing to resume
                (self.run_dir / "config.json").unlink()
            raise

    def _last_checkpoint(self) -> dict[str, Any]:
        """``last.pt`` to resume, refused when this trainer's config differs from the run's."""
        path = self.run_dir / "checkpoints" / "last.pt"
        if not path.is_file():
            raise CheckpointError(
                f"nothing to resume in {self.run_dir}: it has no checkpoints/last.pt (a run "
                f"writes it at the end of its first epoch); start the run again, with --overwrite "
                f"if the folder holds anything of it"
            )
        payload = load_checkpoint(path, expected_detector=self.name)
        self._require_same_config(payload["config"], path)
        saved = self.run_dir / "config.json"
        if saved.is_file():
            self._require_same_config(json.loads(saved.read_text(encoding="utf-8")), saved)
        return payload

    def _require_same_config(self, saved: dict, source: Path) -> None:
        changed = config_differences(saved, self.cfg.to_dict())
        if changed:
            item = "\n  "
            raise ConfigError(
                f"cannot resume {self.run_dir}: the config differs from the one in {source} "
                f"that the run was trained with:{item}{format_differences(changed, item)}\n"
                f"A resumed run continues the saved weights, optimiser and scheduler state, so "
                f"it needs the same config: undo these changes (dfshield train --resume reads "
                f"config.json), or start a new run with them: another --run-dir, or --overwrite"
            )

    def _restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint read by :meth:`_last_checkpoint`."""
        path = self.run_dir / "checkpoints" / "last.pt"
        load_weights(self.detector, payload, path, self.cfg.detector)
        assert self.optimizer is not None  # _prepare_training built it
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"])
        self.start_epoch = int(payload["epoch"])
        self.best_value, self.best_epoch = payload["best_value"], payload["best_epoch"]
        self.history = list(payload["history"])

    def _write_log(self) -> None:
        """Rewrite ``log.csv`` from the history (restored from ``last.pt`` on resume)."""
        if not self.dist.is_main:
            return
        with atomic_write(self.run_dir / "log.csv", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.history)
        if self.cfg.train.tensorboard:
            self._log_tensorboard(self.history[-1])

    def _log_tensorboard(self, row: dict[str, Any]) -> None:
        """Add an epoch's finite numbers to TensorBoard (one writer for the whole run)."""
        if self._tensorboard is None:
            self._tensorboard = tensorboard_writer(self.run_dir / "tensorboard")
        for key, value in row.items():
            if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                self._tensorboard.add_scalar(key, value, row["epoch"])
        self._tensorboard.flush()


@dataclasses.dataclass
class _Epoch:
    """The epoch in progress, between :meth:`Trainer.begin_epoch` and :meth:`Trainer.end_epoch`."""

    epoch: int
    lr: float
    started: float
    losses: EpochLosses


def _eer_threshold(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "value": float(threshold_at_eer(scores, labels)),
        "rule": "eer",
        "chosen_on": "validation split",
    }


def tensorboard_writer(folder: Path):
    """A TensorBoard ``SummaryWriter`` writing into ``folder``."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError(
            "train.tensorboard is true but TensorBoard is not installed; "
            "pip install 'dfshield[tensorboard]'"
        ) from error
    return SummaryWriter(str(folder))
