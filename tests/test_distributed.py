"""DDP through torchrun on CPU: gloo backend, 2 processes, sharded extraction, gathered metrics.

Device resolution: ``train.device`` / ``--device`` values, with ``torch.cuda`` mocked where no
GPU exists."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.cuda._utils import _get_device_index

from dfshield.distributed import prepare_device, resolve_device
from dfshield.errors import ConfigError
from tests.helpers import TINY_BACKBONE, toy_layer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.e2e
def test_torchrun_two_processes_train_and_gather(toy_dataset, tmp_path):
    layer = toy_layer(toy_dataset, tmp_path, epochs=2)[1]
    sets = [f"data.{k}={json.dumps(v)}" for k, v in layer["data"].items()]
    sets += [f"train.{k}={json.dumps(v)}" for k, v in layer["train"].items()]
    sets += [f"detector.backbone={json.dumps(TINY_BACKBONE)}"]
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={free_port()}",
        "--master_addr=127.0.0.1",
        "-m",
        "dfshield.cli",
        "train",
        "--detector",
        "robust_clip",
        "--run-dir",
        str(tmp_path / "ddp"),
        "--feature-cache",
        str(tmp_path / "cache"),
    ]
    for item in sets:
        command += ["--set", item]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "ddp" / "test_metrics.json").read_text())
    summary = toy_dataset["summary"]
    test_frames = summary.frames["test"]["real"] + summary.frames["test"]["fake"]
    assert metrics["n"] == test_frames  # predictions of both ranks gathered, none twice
    assert (tmp_path / "ddp" / "checkpoints" / "best.pt").is_file()
    banks = [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]
    assert len(banks) == 3  # train, val, test: extracted once, shared by both ranks
    for bank in banks:
        meta = json.loads((bank / "meta.json").read_text())
        assert meta["skipped"] == 0 and len(meta["labels"]) == meta["count"]


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def two_gpus(monkeypatch) -> list[int]:
    """``torch.cuda`` as on a machine with two GPUs, the current one 0; returns the indices
    ``set_device`` was called with. ``set_device`` checks its argument as the real one does
    (a ``torch.device('cuda')`` without an index raises ValueError)."""
    calls: list[int] = []
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.append(_get_device_index(d)))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: "Mock GPU")
    return calls


def test_cpu_and_auto_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("cpu", " CPU ", "cpu:0", "auto", torch.device("cpu")):
        assert resolve_device(name) == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available; use auto or cpu"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "mps", "", "cuda0"])
def test_bad_strings_name_the_valid_values(name):
    with pytest.raises(ConfigError, match=r"use auto, cpu, cuda or cuda:N"):
        resolve_device(name)


def test_cuda_without_index_is_the_current_gpu(two_gpus, monkeypatch):
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)  # e.g. set by the caller
    assert resolve_device("cuda") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"shows 2 GPU\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:2")


def test_cuda_without_index_under_torchrun_is_the_local_rank(two_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert resolve_device("cuda") == torch.device("cuda", 1)
    assert resolve_device("auto") == torch.device("cuda", 1)
    assert resolve_device("cuda:0") == torch.device("cuda", 0)  # an explicit index wins


def test_prepare_device_sets_an_indexed_gpu(two_gpus):
    # torch.cuda.set_device(torch.device("cuda")) raises: the device must carry an index
    device, info = prepare_device("cuda")
    assert device == torch.device("cuda", 0) and two_gpus == [0]
    assert not info.enabled


def test_benchmarks_resolve_devices_as_the_trainer(two_gpus, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(sys, "argv", ["bench.py"])
    import _common

    args = argparse.Namespace(device="cuda", threads=None)
    assert _common.setup(args) == torch.device("cuda", 0)
    assert "device: cuda:0 (Mock GPU)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="use auto, cpu, cuda or cuda:N"):
        _common.setup(argparse.Namespace(device="gpu", threads=None))


@pytest.mark.parametrize(
    "name", ["auto", "cpu", "cpu:0", "cuda", "cuda:1", "cpu:1", "gpu", "cuda:x", "cuda:-1", "mps"]
)
def test_the_config_and_resolve_device_accept_the_same_names(two_gpus, name):
    from dfshield.config import TrainConfig

    def accepted(check) -> bool:
        try:
            check(name)
        except ConfigError:
            return False
        return True

    assert accepted(lambda n: TrainConfig(device=n)) == accepted(resolve_device)
