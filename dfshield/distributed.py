"""Multi-GPU (and multi-process CPU) runs through ``torchrun``: one process group, sharded
extraction and evaluation, DistributedDataParallel, predictions gathered on every rank.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist

from dfshield.errors import ConfigError

#: what ``train.device`` (and every ``--device``) accepts
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"
_DEVICE_NAME = re.compile(r"auto|cpu(:0)?|cuda(:\d+)?")
_CPU = torch.device("cpu")


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


def prepare_device(name: str | torch.device) -> tuple[torch.device, DistInfo]:
    """The device ``train.device`` names, made current, and this process's place among the ranks."""
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


def is_device_name(text: object) -> bool:
    """Whether ``train.device`` / ``--device`` accept ``text``: the one rule behind both checks."""
    return isinstance(text, str) and _DEVICE_NAME.fullmatch(text) is not None


def resolve_device(name: str | torch.device) -> torch.device:
    """The device that ``train.device`` names, always with an index on CUDA. ``auto`` and ``cuda``
    are the local rank's GPU (``LOCAL_RANK``) or the current one; ``auto`` falls back to the CPU.
    The index is filled in because ``set_device`` and DDP need one. A GPU where CUDA is missing, or
    past the last one, is a ConfigError."""
    text = str(name).strip().lower()
    if not is_device_name(text):
        raise ConfigError(
            f"device {str(name)!r} (train.device or --device) is not understood; use "
            f"{DEVICE_CHOICES}"
        )
    if text == "auto":
        return torch.device("cuda", _default_index()) if torch.cuda.is_available() else _CPU
    device = torch.device(text)
    if device.type == "cpu":
        return _CPU
    if not torch.cuda.is_available():
        raise ConfigError(
            f"device {str(name)!r} asks for a GPU but CUDA is not available; use auto or cpu"
        )
    index = _default_index() if device.index is None else device.index
    count = torch.cuda.device_count()
    if index >= count:
        raise ConfigError(
            f"device {str(name)!r} asks for GPU {index} but this machine shows {count} GPU(s), "
            f"cuda:0 to cuda:{count - 1}; use {DEVICE_CHOICES} with an index below {count}"
        )
    return torch.device("cuda", index)


def _default_index() -> int:
    """The GPU of this process: ``LOCAL_RANK`` under ``torchrun``, else the current device."""
    local_rank = os.environ.get("LOCAL_RANK")
    return int(local_rank) if local_rank is not None else torch.cuda.current_device()
