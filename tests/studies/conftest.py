"""Fixtures only: the tiny DeepfakeBench of ``tests/reproduce_bench.py``, once per module."""

from __future__ import annotations

import pytest

from tests.reproduce_bench import write_benchmark


@pytest.fixture(scope="module")
def bench(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("bench")
    return {**write_benchmark(root), "out": root / "runs"}
