"""The run config: the typed dataclasses of one training run (``RunConfig``, ``TrainConfig``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from dfshield.data.config import DataConfig
from dfshield.distributed import DEVICE_CHOICES, is_device_name
from dfshield.errors import ConfigError
from dfshield.losses import BUILD_TIME as LOSS_BUILD_TIME
from dfshield.optimizers.build import OPTIMIZER_BUILD_TIME, SCHEDULER_BUILD_TIME
from dfshield.seeding import MAX_SEED

#: Values the builders pass at build time, by section: not config options (name → its origin).
BUILD_TIME: dict[str, dict[str, str]] = {
    "loss": LOSS_BUILD_TIME,
    "optimizer": OPTIMIZER_BUILD_TIME,
    "scheduler": SCHEDULER_BUILD_TIME,
}
REGISTRY_SECTIONS = ("detector", "loss", "optimizer", "scheduler")


@dataclass
class TrainConfig:
    """Training protocol shared by every detector of a comparison.

    Attributes:
        epochs: number of passes over the training split.
        batch_size: samples per optimisation step.
        seed: seeds Python, NumPy and PyTorch (and the data order).
        selection_metric: validation metric that picks the ``best`` checkpoint (never a test
            metric); any key of ``compute_metrics``, e.g. ``auc``, ``ap``, ``eer`` (lower is
            better).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        amp: mixed precision of a trainable backbone's steps on GPU: ``auto`` (bf16 where
            supported), ``bf16`` or ``none``. (fp16 would need loss scaling, which PyTorch does
            not offer for closure-based optimisers such as SAM.) Heads on a feature bank train in
            fp32; frozen backbones have their own ``precision``.
        capture: ``auto`` (a CUDA graph of the whole training step of a head on a feature bank,
            when on a GPU with a fused optimizer; the plain step otherwise), ``off``,
            ``cuda_graph`` or ``compile`` (``torch.compile(mode="reduce-overhead")``); see
            ``dfshield.engine.steps``.
        eval_every: validate every this many epochs (the last epoch is always validated).
        output_dir: folder under which run folders are created.
        tensorboard: also write TensorBoard logs (needs the ``tensorboard`` extra).
        progress: show tqdm progress bars.
        bank_device_budget_gb: the largest feature bank (GiB, per split) copied whole onto the
            training device; a larger one stays memory-mapped on disk and the rows of each batch
            are read from it (the same batches, more slowly). ``null``: no limit; ``0``: always
            read from disk.
        batched_runs: in ``dfshield imbalance``, train the runs of one detector config (its
            ratios × seeds; a frozen backbone and an MLP head: ``mlp``, ``spcup``,
            ``robust_clip``) together as one batched model, each run with its own weights,
            batches, optimiser, validation and checkpoints (``dfshield.engine.grouped_runs``). Other
            detectors, and different configs such as the losses of ``--ablation``, run
            separately. For a GPU, where a head's step is launch-bound; on a CPU separate runs
            are as fast or faster (docs/benchmarks.md).
    """

    epochs: int = 10
    batch_size: int = 256
    seed: int = 8079
    selection_metric: str = "auc"
    device: str = "auto"
    amp: Literal["auto", "bf16", "none"] = "auto"
    capture: Literal["auto", "off", "cuda_graph", "compile"] = "auto"
    eval_every: int = 1
    output_dir: str = "runs"
    tensorboard: bool = False
    progress: bool = True
    bank_device_budget_gb: float | None = 8.0
    batched_runs: bool = False

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_every"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be at least 1, got {getattr(self, key)}")
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, int)
            or abs(self.seed) > MAX_SEED
        ):
            raise ConfigError(
                f"train.seed must be an integer from -{MAX_SEED} to {MAX_SEED} (2**48), got "
                f"{self.seed!r}; pick a smaller seed"
            )
        if not is_device_name(self.device):
            raise ConfigError(
                f"train.device must be {DEVICE_CHOICES} (the N-th GPU, from 0), got "
                f"{self.device!r}; for a GPU write cuda (or auto: the GPU when there is one)"
            )


@dataclass
class RunConfig:
    """Everything one training run needs.

    Attributes:
        data: datasets, splits and loading (``dfshield.data.config.DataConfig``).
        train: the training protocol (``TrainConfig``).
        detector: ``name`` of a registered detector plus its constructor options, including its
            ``backbone`` section.
        loss: ``name`` of a registered loss plus its options (``dfshield list`` shows the names);
            empty: the detector's own default (BCE; a DeepfakeBench class: its ``get_losses``).
        optimizer: ``name`` of a registered optimizer plus its options.
        scheduler: ``name`` of a registered scheduler plus its options.
        imports: plugin modules or ``.py`` files imported before the sections above are checked
            (a file path is relative to the YAML file that lists it).
    """

    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    detector: dict = field(default_factory=dict)
    loss: dict = field(default_factory=dict)
    optimizer: dict = field(default_factory=lambda: {"name": "adamw", "lr": 1e-4})
    scheduler: dict = field(default_factory=lambda: {"name": "none"})
    imports: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
