"""Forward latency on a target device (params ``hardware.*``), measured with ``torch.utils.benchmark``:
warm-up calls, then :meth:`~torch.utils.benchmark.Timer.adaptive_autorange` repeats the call in blocks
until the interquartile range is within 10% of the median (or the time limit), and the median and
interquartile range of the per-call times are reported. A CUDA call is synchronised inside the timed
statement, so the time is the kernels' and not their launch."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils import benchmark

from ..errors import AsvitError

if TYPE_CHECKING:
    from ..config import HardwareParams

DEVICE_PATTERN = re.compile(r"cpu|cuda(:\d+)?")
WARMUP_CALLS = 3
MIN_SECONDS = 0.2  # adaptive_autorange: time spent at least ...
MAX_SECONDS = 2.0  # ... and at most, per measurement
IQR_THRESHOLD = 0.1  # stop once IQR / median is below this


class DeviceError(AsvitError):
    """A ``hardware.device`` that is not a device name, or not one this machine has."""


def device_problem(name: str) -> str | None:
    """Why ``name`` is not a device name torch can time on (``cpu``, ``cuda`` or ``cuda:N``), or None."""
    return None if DEVICE_PATTERN.fullmatch(name) else f"{name!r} is not a device: expected cpu, cuda or cuda:N"


def unreachable_device_problem(name: str) -> str | None:
    """Why ``name`` is not a device of this machine (not a device name, or a CUDA device it lacks), or None."""
    try:
        LatencySettings(name).torch_device()
    except DeviceError as exc:
        return str(exc).removeprefix("hardware.device: ")
    return None


@dataclass(frozen=True)
class LatencySettings:
    """Where and how a forward pass is timed: ``device``, torch ``threads`` (intra-op, CPU), images per
    call ``batch_size`` and their side ``image_size``."""

    device: str = "cpu"
    threads: int = 1
    batch_size: int = 1
    image_size: int = 224

    def __post_init__(self) -> None:
        problem = device_problem(self.device)
        if problem:
            raise DeviceError(f"hardware.device: {problem}")

    @classmethod
    def from_params(cls, params: HardwareParams) -> LatencySettings:
        """The settings of the ``hardware`` params."""
        return cls(params.device, params.threads, params.batch_size, params.image_size)

    def torch_device(self) -> torch.device:
        """The device, after checking this machine has it (:class:`DeviceError` names what it has)."""
        device = torch.device(self.device)
        if device.type == "cuda":
            count = torch.cuda.device_count()
            index = device.index or 0
            if index >= count:
                raise DeviceError(f"hardware.device: {self.device} is unreachable: this machine has "
                                  f"{count} CUDA device(s); set hardware.device: cpu or a device it has")
            device = torch.device("cuda", index)
        return device

    def images(self) -> torch.Tensor:
        """The timed input: ``batch_size`` standard-normal images (latency does not depend on their values)."""
        generator = torch.Generator().manual_seed(0)
        return torch.randn(self.batch_size, 3, self.image_size, self.image_size, generator=generator)


@dataclass(frozen=True)
class Latency:
    """Median and interquartile range of one call's milliseconds, over ``calls`` timed calls."""

    median_ms: float
    iqr_ms: float
    calls: int

    def as_dict(self, prefix: str = "latency") -> dict[str, float]:
        return {f"{prefix}_ms": round(self.median_ms, 4), f"{prefix}_iqr_ms": round(self.iqr_ms, 4)}


def time_call(call: Callable[[], object], threads: int) -> Latency:
    """Latency of ``call()`` on ``threads`` intra-op threads: :data:`WARMUP_CALLS` untimed calls, then
    ``adaptive_autorange``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for _ in range(WARMUP_CALLS):
            call()
    finally:
        torch.set_num_threads(previous)
    timer = benchmark.Timer("call()", globals={"call": call}, num_threads=threads)
    measurement = timer.adaptive_autorange(IQR_THRESHOLD, min_run_time=MIN_SECONDS, max_run_time=MAX_SECONDS)
    return Latency(measurement.median * 1e3, measurement.iqr * 1e3, measurement.number_per_run * len(measurement.times))


def measure_latency(model: nn.Module, settings: LatencySettings) -> Latency:
    """Latency of ``model``'s forward pass in eval mode without autograd, on ``settings.device`` (the
    model is moved there and back); training mode is restored."""
    device = settings.torch_device()
    home = next(model.parameters()).device
    training = model.training
    model.eval().to(device)
    images = settings.images().to(device)

    @torch.inference_mode()
    def forward() -> None:
        model(images)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    try:
        return time_call(forward, settings.threads)
    finally:
        model.to(home).train(training)
