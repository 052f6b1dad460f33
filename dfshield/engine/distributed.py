"""Multi-GPU (and multi-process CPU) runs through ``torchrun``.

``torchrun --nproc_per_node=N -m dfshield.cli train ...`` sets ``RANK``/``WORLD_SIZE``; we then
join a process group (NCCL on GPU, gloo on CPU), shard feature extraction and evaluation across
ranks, train with DistributedDataParallel and gather predictions on every rank for the metrics.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (no-op otherwise)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size())


def prepare_device(name: str) -> tuple[torch.device, DistInfo]:
    """The device named by ``train.device`` (see :func:`resolve_device`), made current, and this
    process's place among the ``torchrun`` ranks (a process group joined when there are several)."""
    device = resolve_device(name)
    info = init_distributed(device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device, info


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def gather_objects(obj, info: DistInfo) -> list:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    result = [None] * info.world_size
    dist.all_gather_object(result, obj)
    return result


def resolve_device(name: str) -> torch.device:
    """``auto`` → the local rank's GPU when CUDA is available, else the CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        from dfshield.errors import ConfigError

        raise ConfigError(f"train.device is '{name}' but CUDA is not available; use auto or cpu")
    return device
