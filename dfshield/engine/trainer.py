"""One training loop for every detector.

- Frozen backbone → the feature bank is encoded once and moved whole onto the device; each epoch
  the detector may augment it in feature space (latent augmentation) and the head trains on it
  in shuffled batches. Trainable backbone → a DataLoader over the images (DistributedSampler
  under ``torchrun``, with ``set_epoch``).
- Every optimiser is stepped through a closure, so SAM recomputes the loss at the perturbed point.
- The scheduler is stepped per epoch or per iteration as configured (never once at the end).
- Model selection by the validation metric only; ``best.pt`` and ``last.pt`` are written
  atomically with optimiser, scheduler and RNG state; ``resume`` continues from ``last.pt``.
  Each epoch reseeds every RNG from (seed, epoch), so a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Subset
from torch.utils.data.distributed import DistributedSampler

from dfshield.config import RunConfig
from dfshield.detectors import build_detector
from dfshield.engine.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from dfshield.engine.distributed import gather_objects, init_distributed, resolve_device
from dfshield.engine.feature_bank import FeatureBank, load_or_extract
from dfshield.engine.progress import progress_bar
from dfshield.errors import ConfigError, DataError, DfshieldError
from dfshield.eval.metrics import threshold_at_eer
from dfshield.eval.predictions import Predictions, assemble, evaluate_predictions
from dfshield.optimizers import build_optimizer, build_scheduler

LOG_COLUMNS = ("epoch", "lr", "train_loss", "val_auc", "val_ap", "val_eer", "val_acc", "seconds")


class TrainingError(DfshieldError):
    """Training cannot go on (e.g. the loss became NaN)."""


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lower_is_better(metric: str) -> bool:
    return metric.endswith("eer")


class Trainer:
    """Train, select and test one detector under one run config.

    Args:
        cfg: the run configuration.
        run_dir: folder for checkpoints, logs and results.
        feature_cache: folder of feature banks shared between runs (default
            ``<train.output_dir>/feature_cache``).
    """

    def __init__(
        self, cfg: RunConfig, run_dir: str | Path, feature_cache: str | Path | None = None
    ):
        self.cfg = cfg
        self.name = cfg.detector.get("name")
        if not self.name:
            raise ConfigError(
                "the run config has no detector.name; pick one of `dfshield list detectors`"
            )
        self.run_dir = Path(run_dir)
        self.feature_cache = Path(feature_cache or Path(cfg.train.output_dir) / "feature_cache")
        self.device = resolve_device(cfg.train.device)
        self.dist = init_distributed(self.device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.progress = cfg.train.progress and self.dist.is_main
        seed_everything(cfg.train.seed)
        self.detector = build_detector(cfg.detector).to(self.device)
        self.model = self.detector
        self.amp_dtype = amp_dtype(cfg.train.amp, self.device)
        self._datasets: dict[str, Any] = {}
        self._banks: dict[str, FeatureBank] = {}
        self.optimizer = self.scheduler = None
        self.start_epoch, self.best_value, self.best_epoch = 0, None, None
        self.history: list[dict[str, Any]] = []

    def _prepare_training(self) -> None:
        """Check the splits, build the loss (with training class counts), optimiser and scheduler."""
        for split in ("train", "val"):
            self._require_both_classes(split)
        self.class_counts = self.dataset("train").class_counts
        self.detector.build_loss(self.cfg.loss, class_counts=self.class_counts)
        if self.dist.enabled:
            self.model = DistributedDataParallel(
                self.detector,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
            )
        self.optimizer = build_optimizer(self.cfg.optimizer, self.detector)
        self._steps = self.steps_per_epoch()
        self.scheduler = build_scheduler(
            self.cfg.scheduler,
            self.optimizer,
            epochs=self.cfg.train.epochs,
            steps_per_epoch=self._steps,
        )

    # -- data ------------------------------------------------------------------------------
    def dataset(self, split: str):
        """The shared loader's dataset of a split (train and val: train datasets; test: test datasets)."""
        if split not in self._datasets:
            from dfshield.data import DeepfakeDataset

            data = self.cfg.data
            names = data.test_datasets if split == "test" else data.train_datasets
            # a frozen backbone encodes each frame once: image augmentation would freeze one
            # random draw into the bank, so banks see clean frames (latent augmentation instead)
            augment = split == "train" and not self.detector.uses_feature_bank
            self._datasets[split] = DeepfakeDataset(
                data, split, names, augment=augment, **self.detector.input_spec()
            )
        return self._datasets[split]

    def bank(self, split: str) -> FeatureBank:
        """The split's feature bank on the training device (encoded once, then read from the cache)."""
        if split not in self._banks:
            bank = load_or_extract(
                self.detector.backbone,
                self.dataset(split),
                self.feature_cache,
                device=self.device,
                batch_size=min(self.cfg.train.batch_size, 256),
                num_workers=self.cfg.data.num_workers,
                progress=self.progress,
                dist_info=self.dist,
                description=f"{split} frames",
            )
            self._banks[split] = bank.to(self.device)
        return self._banks[split]

    def _require_both_classes(self, split: str) -> None:
        counts = self.dataset(split).class_counts
        if min(counts["real"], counts["fake"]) == 0:
            missing = "fake" if counts["fake"] == 0 else "real"
            raise DataError(
                f"the {split} split of {', '.join(self.cfg.data.train_datasets)} has no {missing} "
                f"samples ({counts}); training needs both classes and model selection needs both "
                f"for AUC. Rebuild the splits (dfshield build-lmdb stratifies them) or add a "
                f"dataset with {missing} videos"
            )

    def steps_per_epoch(self) -> int:
        if self.detector.uses_feature_bank:
            n = len(self.bank("train")) * self.detector.feature_copies
            return len(batch_bounds(n, self.cfg.train.batch_size, self.dist.world_size))
        return max(1, len(self._train_loader(epoch=0)))

    def _train_loader(self, epoch: int):
        from dfshield.data import make_loader

        dataset = self.dataset("train")
        per_rank = max(1, self.cfg.train.batch_size // self.dist.world_size)
        if self.dist.enabled:
            sampler = DistributedSampler(
                dataset,
                self.dist.world_size,
                self.dist.rank,
                shuffle=True,
                seed=self.cfg.train.seed,
                drop_last=True,
            )
            sampler.set_epoch(epoch)
            kwargs = {"sampler": sampler, "shuffle": False}
        else:
            kwargs = {
                "shuffle": True,
                "generator": torch.Generator().manual_seed(self.cfg.train.seed + epoch),
            }
        return make_loader(dataset, per_rank, drop_last=len(dataset) > per_rank, **kwargs)

    def _train_batches(self, epoch: int, generator: torch.Generator):
        """Yield ``data_dict`` batches for one epoch (this rank's share)."""
        if self.detector.uses_feature_bank:
            bank = self.bank("train")
            features, labels = self.detector.augment_features(bank.features, bank.labels, generator)
            order = torch.randperm(len(labels), generator=generator, device=labels.device)
            for start, stop in batch_bounds(
                len(labels), self.cfg.train.batch_size, self.dist.world_size
            ):
                index = order[start:stop][self.dist.rank :: self.dist.world_size]
                yield {"feature": features[index], "label": labels[index], "image": None}
            return
        for batch in self._train_loader(epoch):  # batches of only undecodable frames are left out
            yield {
                key: (value.to(self.device, non_blocking=True) if torch.is_tensor(value) else value)
                for key, value in batch.items()
            }

    # -- training --------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> dict[str, Any]:
        """Train for ``train.epochs``, keeping the best epoch by the validation metric."""
        self._prepare_training()
        if resume:
            self._resume()
        elif self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            (self.run_dir / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=2))
        train_cfg = self.cfg.train
        metric = train_cfg.selection_metric
        for epoch in range(self.start_epoch, train_cfg.epochs):
            started = time.time()
            epoch_seed = train_cfg.seed * 1009 + epoch
            seed_everything(epoch_seed)
            generator = torch.Generator(device=self.device).manual_seed(epoch_seed)
            train_loss = self._train_epoch(epoch, generator)
            if self.scheduler.interval == "epoch":
                self.scheduler.step()
            row = {
                "epoch": epoch + 1,
                "lr": self.optimizer.param_groups[0]["lr"],
                "train_loss": train_loss,
            }
            last_epoch = epoch + 1 == train_cfg.epochs
            predictions = None
            if (epoch + 1) % train_cfg.eval_every == 0 or last_epoch:
                metrics, predictions = self.evaluate("val", bootstrap=0)
                if metric not in metrics:
                    raise ConfigError(
                        f"train.selection_metric '{metric}' is not a metric; choose "
                        f"one of {sorted(k for k, v in metrics.items() if isinstance(v, float))}"
                    )
                row.update(
                    {f"val_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}
                )
                value = float(metrics[metric])
                if self._improves(value):
                    self.best_value, self.best_epoch = value, epoch + 1
                    self._save("best.pt", epoch + 1, validation=predictions)
            row["seconds"] = round(time.time() - started, 3)
            self.history.append(row)
            self._save("last.pt", epoch + 1, validation=predictions)
            self._write_log()
        return {
            "best_epoch": self.best_epoch,
            f"best_val_{metric}": self.best_value,
            "history": self.history,
        }

    def _train_epoch(self, epoch: int, generator: torch.Generator) -> float:
        self.model.train()
        total, count = 0.0, 0
        bar = progress_bar(
            self._train_batches(epoch, generator),
            enabled=self.progress,
            total=self._steps,
            unit="step",
            desc=f"{self.name} epoch {epoch + 1}/{self.cfg.train.epochs}",
        )
        for step, data in enumerate(bar):
            loss = self._step(data, epoch, step)
            total, count = total + loss, count + 1
            bar.set_postfix(loss=f"{loss:.4f}")
            if self.scheduler.interval == "step":
                self.scheduler.step()
        bad = getattr(self.dataset("train"), "report_bad_frames", None)
        if bad is not None and not self.detector.uses_feature_bank:
            bad()
        return total / max(count, 1)

    def _step(self, data: dict, epoch: int, step: int) -> float:
        def closure() -> torch.Tensor:
            with torch.autocast(
                self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
            ):
                pred = self.model(data)
                loss = self.detector.get_losses(data, pred)["overall"]
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"{self.name}: the loss became {loss.item()} at epoch {epoch + 1}, step "
                    f"{step + 1}; lower optimizer.lr, check the data for corrupt frames, or "
                    f"resume from the last good checkpoint with --resume"
                )
            loss.backward()
            return loss

        self.optimizer.zero_grad(set_to_none=True)
        loss = self.optimizer.step(closure)
        return float(loss.detach())

    def _improves(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if lower_is_better(self.cfg.train.selection_metric):
            return value < self.best_value
        return value > self.best_value

    # -- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def predict_split(self, split: str) -> Predictions:
        """P(fake) of every frame of a split (and of every clip, for video detectors), with labels
        and full video paths, gathered over every rank in dataset order."""
        self.detector.eval()
        rank, world = self.dist.rank, self.dist.world_size
        if self.detector.uses_feature_bank:
            bank = self.bank(split)
            mine = list(range(rank, len(bank), world))
            local = []
            for start in range(0, len(mine), 4096):
                index = mine[start : start + 4096]
                features = bank.features[torch.tensor(index, device=self.device)]
                probs = (
                    self.detector({"feature": features, "image": None})["prob"]
                    .float()
                    .cpu()
                    .tolist()
                )
                local += [(i, [p], None) for i, p in zip(index, probs)]
            labels, video_ids = bank.labels.cpu().numpy(), bank.video_ids
        else:
            dataset = self.dataset(split)
            local = self._predict_images(dataset, rank, world)
            labels, video_ids = np.asarray(dataset.labels), dataset.video_ids
        items = [item for part in gather_objects(local, self.dist) for item in part]
        return assemble(items, labels, video_ids)

    def _predict_images(
        self, dataset, rank: int, world: int
    ) -> list[tuple[int, list[float], float | None]]:
        from dfshield.data import make_loader

        loader = make_loader(
            Subset(dataset, list(range(rank, len(dataset), world))),
            self.cfg.train.batch_size,
            shuffle=False,
            num_workers=self.cfg.data.num_workers,
        )
        local = []
        for batch in progress_bar(loader, enabled=self.progress, desc="predicting"):
            data = {k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in batch.items()}
            with torch.autocast(
                self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None
            ):
                pred = self.detector(data, inference=True)
            probs = pred["prob"].float().cpu().tolist()
            if "frame_prob" in pred:  # video detector: frame head per step, video head per clip
                frames = pred["frame_prob"].float().cpu().tolist()
                local += [(int(i), f, p) for i, f, p in zip(batch["index"], frames, probs)]
            else:
                local += [(int(i), [p], None) for i, p in zip(batch["index"], probs)]
        return local

    def evaluate(self, split: str, bootstrap: int = 1000) -> tuple[dict[str, Any], Predictions]:
        """Frame- and video-level metrics of a split. Video level is the mean frame probability
        per full video path, or, for a video detector, its video head (``video_source`` says which)."""
        predictions = self.predict_split(split)
        return evaluate_predictions(predictions, bootstrap=bootstrap), predictions

    def test(self, checkpoint: str | Path | None = None) -> dict[str, Any]:
        """Load a checkpoint (default: this run's ``best.pt``) and evaluate the test split at frame
        and video level; write ``test_metrics.json`` and ``test_scores.csv`` into the run folder."""
        path = Path(checkpoint) if checkpoint else self.run_dir / "checkpoints" / "best.pt"
        payload = load_checkpoint(path, expected_detector=self.name)
        self.detector.load_trainable_state_dict(payload["model"])
        metrics, predictions = self.evaluate("test")
        if self.dist.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _write_scores(self.run_dir / "test_scores.csv", predictions)
            (self.run_dir / "test_metrics.json").write_text(
                json.dumps(
                    {
                        "detector": self.name,
                        "checkpoint_epoch": payload["epoch"],
                        **_plain(metrics),
                    },
                    indent=2,
                )
            )
        return {
            "metrics": metrics,
            "scores": predictions.scores,
            "labels": predictions.labels,
            "video_ids": predictions.video_ids,
            "predictions": predictions,
        }

    # -- checkpoints and logs --------------------------------------------------------------
    def _save(self, filename: str, epoch: int, validation: Predictions | None = None) -> None:
        """Write a checkpoint. When this epoch was validated it also keeps the validation scores
        of these weights and the EER decision threshold derived from them (``dfshield predict``
        uses both)."""
        if not self.dist.is_main:
            return
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
            "backbone": self.detector.backbone.fingerprint() if self.detector.backbone else None,
        }
        if validation is not None:
            payload["threshold"] = _eer_threshold(validation.scores, validation.labels)
            payload["validation"] = {
                "scores": torch.tensor(validation.scores, dtype=torch.float64),
                "labels": torch.tensor(validation.labels, dtype=torch.long),
            }
        save_checkpoint(self.run_dir / "checkpoints" / filename, payload)

    def _resume(self) -> None:
        payload = load_checkpoint(
            self.run_dir / "checkpoints" / "last.pt", expected_detector=self.name
        )
        self.detector.load_trainable_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        set_rng_state(payload["rng"])
        self.start_epoch = int(payload["epoch"])
        self.best_value, self.best_epoch = payload["best_value"], payload["best_epoch"]
        self.history = list(payload["history"])

    def _write_log(self) -> None:
        """Rewrite ``log.csv`` from the history (which a resumed run restores from ``last.pt``)."""
        if not self.dist.is_main:
            return
        path = self.run_dir / "log.csv"
        tmp = path.with_name(".log.csv.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(self.history)
        tmp.replace(path)
        if self.cfg.train.tensorboard:
            _tensorboard_log(self.run_dir / "tensorboard", self.history[-1])


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``train.amp`` on ``device``: bf16 on a GPU that has it, else off."""
    if amp == "none" or device.type != "cuda":
        return None
    if amp == "auto" and not torch.cuda.is_bf16_supported():
        return None
    return torch.bfloat16


def batch_bounds(n: int, batch_size: int, world_size: int = 1) -> list[tuple[int, int]]:
    """Global batches ``[start, stop)``; a last batch too small for BatchNorm (< 2 a rank) is dropped."""
    bounds = [(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]
    if bounds and (bounds[-1][1] - bounds[-1][0]) < 2 * world_size and len(bounds) > 1:
        bounds.pop()
    return bounds


def _eer_threshold(scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    return {
        "value": float(threshold_at_eer(scores, labels)),
        "rule": "eer",
        "chosen_on": "validation split",
    }


def _write_scores(path: Path, predictions: Predictions) -> None:
    """One row per frame: full video path, label, P(fake)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "label", "prob_fake"])
        for video, label, score in zip(
            predictions.video_ids, predictions.labels, predictions.scores
        ):
            writer.writerow([video, int(label), f"{float(score):.6f}"])


def _plain(metrics: dict) -> dict:
    return {
        k: (float(v) if isinstance(v, (np.floating, float)) else v)
        for k, v in metrics.items()
        if not isinstance(v, (np.ndarray, list))
    }


_TB_WRITERS: dict[str, Any] = {}


def _tensorboard_log(folder: Path, row: dict[str, Any]) -> None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError(
            "train.tensorboard is true but TensorBoard is not installed; "
            "pip install 'dfshield[tensorboard]'"
        ) from error
    writer = _TB_WRITERS.setdefault(str(folder), SummaryWriter(str(folder)))
    for key, value in row.items():
        if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
            writer.add_scalar(key, value, row["epoch"])
    writer.flush()
