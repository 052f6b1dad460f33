"""Device resolution: ``train.device`` / ``--device`` values, with ``torch.cuda`` mocked where no
GPU exists."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import torch
from torch.cuda._utils import _get_device_index

from dfshield.engine.distributed import prepare_device, resolve_device
from dfshield.errors import ConfigError

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
