"""One training step (``optimizer.step(closure)`` on one batch) without host round-trips.

A step never reads the device on the host (no ``.item()``, no boolean-mask indexing): on a GPU each
read drains the queue, and a small head's step would be bound by those waits. So losses stay on the
device until the epoch ends (:class:`EpochLosses`), the losses defer their value checks, bank heads
train in float32, and on a GPU the whole step can be captured once as a CUDA graph and replayed
(``train.capture``, :func:`capture_mode`; docs/benchmarks.md).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from dfshield.errors import ConfigError
from dfshield.losses import deferred_value_checks

logger = logging.getLogger(__name__)

CAPTURE_MODES = ("auto", "off", "cuda_graph", "compile")
#: eager steps (real training steps, on a side stream) before a CUDA graph is captured
WARMUP_STEPS = 3


def capture_mode(requested: str, device: torch.device, model, optimizer) -> str:
    """The capture a run uses for ``train.capture``: ``off``, ``cuda_graph`` or ``compile``.
    ``auto`` captures where :func:`graph_problem` finds nothing in the way (never on the CPU); an
    explicit ``cuda_graph`` or ``compile`` that cannot apply is an error, never replaced."""
    if requested == "off":
        return "off"
    if device.type != "cuda":
        if requested == "auto":
            return "off"
        raise ConfigError(
            f"train.capture: {requested} needs a CUDA device (train.device resolves to {device}); "
            f"set train.capture: auto (captures on a GPU, runs the plain step elsewhere) or off"
        )
    problem = graph_problem(model, optimizer)
    if problem is None:
        return "cuda_graph" if requested == "auto" else requested
    if requested == "auto":
        return "off"
    raise ConfigError(
        f"train.capture: {requested} cannot capture this step: {problem}. Set train.capture: "
        f"auto (captures only where it can) or off"
    )


def graph_problem(model, optimizer) -> str | None:
    """Why the step of ``model`` under ``optimizer`` cannot be one CUDA graph (None: it can). A
    graph replays fixed kernels on fixed memory: it needs feature-bank batches, one process and a
    fused torch optimizer (state on the GPU, learning rate read from a tensor). A plugin detector
    whose step depends on Python state that changes between steps needs ``train.capture: off``."""
    if isinstance(model, DistributedDataParallel):
        return "distributed (torchrun) runs are not captured"
    detector = model
    if not getattr(detector, "uses_feature_bank", False):
        return "the step runs the backbone on images (only heads on a feature bank are captured)"
    base = getattr(optimizer, "base_optimizer", optimizer)
    fused = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)
    if not isinstance(base, fused) or not all(g.get("fused") for g in base.param_groups):
        return (
            f"the optimizer {type(base).__name__} is not a fused adamw, adam or sgd (fused "
            f"optimizers keep their state on the GPU and read the learning rate from a tensor)"
        )
    return None


class TrainStep:
    """``step(data)``: one optimisation step on a batch; the loss at θ, detached, on the device.

    The closure back-propagates ``detector.get_losses(data, model(data))["overall"]``, so SAM can
    recompute it. ``capture`` falls back to ``off`` after a failure (cause: ``capture_failure``).
    """

    def __init__(self, model, detector, optimizer, amp_dtype, capture: str = "off"):
        self.model, self.detector, self.optimizer = model, detector, optimizer
        self.amp_dtype = amp_dtype if detector.backbone.trainable else None
        self.capture = capture
        self.capture_failure: str | None = None
        self._eager_steps = 0
        self._graph: torch.cuda.CUDAGraph | None = None
        self._key: tuple | None = None
        self._inputs: dict[str, torch.Tensor] = {}
        self._loss: torch.Tensor | None = None
        self._compiled: Callable[[dict], torch.Tensor] | None = None
        base = getattr(optimizer, "base_optimizer", optimizer)
        self._groups = base.param_groups
        self._lrs: list[torch.Tensor] = []

    def __call__(self, data: dict) -> torch.Tensor:
        if self.capture == "cuda_graph":
            return self._graph_step(data)
        if self.capture == "compile":
            return self._compiled_step(data)
        return self._step(data)

    # -- the step as written ----------------------------------------------------------------
    def _step(self, data: dict) -> torch.Tensor:
        def closure() -> torch.Tensor:
            with torch.autocast(
                _device_type(data), dtype=self.amp_dtype, enabled=self.amp_dtype is not None
            ):
                pred = self.model(data)
                loss = self.detector.get_losses(data, pred)["overall"]
            loss.backward()
            return loss

        with deferred_value_checks():
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.optimizer.step(closure)
        return loss.detach()

    # -- CUDA graph ------------------------------------------------------------------------
    def _graph_step(self, data: dict) -> torch.Tensor:
        """Replay the captured step; capture it after :data:`WARMUP_STEPS` eager side-stream steps.
        The graph is keyed to the first (full) batch's shapes; other shapes run eagerly."""
        key = _batch_key(data)
        if self._key is None:
            self._key = key
        if key is None or key != self._key:
            return self._step(data)
        if self._graph is None:
            if self._eager_steps < WARMUP_STEPS:
                self._eager_steps += 1
                return self._side_stream_step(data)
            if not self._try_capture(data):
                return self._step(data)
        for name, static in self._inputs.items():
            static.copy_(data[name], non_blocking=True)
        for value, group in zip(self._lrs, self._groups):
            value.fill_(group["lr"])  # a scheduler may have changed it since the last replay
        assert self._graph is not None and self._loss is not None  # captured above
        self._graph.replay()
        return self._loss.clone()

    def _side_stream_step(self, data: dict) -> torch.Tensor:
        current = torch.cuda.current_stream()
        side = torch.cuda.Stream()
        side.wait_stream(current)
        with torch.cuda.stream(side):
            loss = self._step(data)
        current.wait_stream(side)
        return loss

    def _try_capture(self, data: dict) -> bool:
        """Capture the step on ``data``; on failure warn, keep the cause and run eagerly from now
        on. Capturing records kernels without running them: a failure leaves the weights as is."""
        self._inputs = {
            name: value.clone() for name, value in data.items() if torch.is_tensor(value)
        }
        static = {name: self._inputs.get(name, value) for name, value in data.items()}
        device = next(iter(self._inputs.values())).device
        self._lrs = [torch.tensor(float(g["lr"]), device=device) for g in self._groups]
        try:
            graph = torch.cuda.CUDAGraph()
            with _tensor_lrs(self._groups, self._lrs), torch.cuda.graph(graph):
                self._loss = self._step(static)
        except RuntimeError as error:
            self.capture_failure = f"{type(error).__name__}: {error}"
            logger.warning(
                "train.capture: the training step could not be captured as a CUDA graph (%s); "
                "training continues without capture, slower (set train.capture: off to skip the "
                "attempt)",
                self.capture_failure,
            )
            self.capture, self._inputs, self._lrs = "off", {}, []
            return False
        self._graph = graph
        return True

    # -- torch.compile ---------------------------------------------------------------------
    def _compiled_step(self, data: dict) -> torch.Tensor:
        """The step through ``torch.compile`` (reduce-overhead); tensor rates avoid recompiles."""
        if self._compiled is None:
            self._compiled = torch.compile(self._step, mode="reduce-overhead")
            device = _device(data)
            self._lrs = [torch.tensor(float(g["lr"]), device=device) for g in self._groups]
        for value, group in zip(self._lrs, self._groups):
            value.fill_(group["lr"])
        with _tensor_lrs(self._groups, self._lrs):
            return self._compiled(data).clone()  # the graph's output is reused by the next call


@contextlib.contextmanager
def _tensor_lrs(groups: list[dict[str, Any]], values: list[torch.Tensor]) -> Iterator[None]:
    """Within: each group's ``lr`` is a device tensor (replays read it) and ``capturable`` is on.
    Both are put back afterwards, so schedulers, logs and checkpoints see plain numbers."""
    saved = [(group["lr"], group.get("capturable")) for group in groups]
    try:
        for group, value in zip(groups, values):
            group["lr"] = value
            if "capturable" in group:
                group["capturable"] = True
        yield
    finally:
        for group, (lr, capturable) in zip(groups, saved):
            group["lr"] = lr
            if capturable is not None:
                group["capturable"] = capturable


def _batch_key(data: dict) -> tuple | None:
    """Shapes, dtypes and devices of a batch's tensors; None if it holds other than tensors/None."""
    key = []
    for name, value in data.items():
        if torch.is_tensor(value):
            key.append((name, tuple(value.shape), value.dtype, value.device))
        elif value is not None:
            return None
    return tuple(key)


def _device(data: dict) -> torch.device:
    return next(value.device for value in data.values() if torch.is_tensor(value))


def _device_type(data: dict) -> str:
    return _device(data).type


class EpochLosses:
    """The losses of one epoch's steps, kept on the device and read on the host once."""

    def __init__(self, steps: int):
        self.capacity = max(1, steps)
        self.values: torch.Tensor | None = None
        self.count = 0

    def add(self, loss: torch.Tensor) -> None:
        if self.values is None:
            self.values = torch.empty(self.capacity, dtype=loss.dtype, device=loss.device)
        elif self.count == len(self.values):  # more steps than announced: grow on the device
            self.values = torch.cat([self.values, torch.empty_like(self.values)])
        self.values[self.count].copy_(loss)
        self.count += 1

    def read(self) -> tuple[float, int | None]:
        """(mean loss, first non-finite step or None); the epoch's one host read."""
        if self.values is None:
            return float("nan"), None
        values = self.values[: self.count].double().cpu()
        bad = torch.nonzero(~torch.isfinite(values))
        first = int(bad[0, 0]) if len(bad) else None
        return float(values.mean()), first
