"""ONNX export of a trained network, checked against PyTorch with ONNX Runtime.

The network is exported with ``torch.onnx.export`` (the ``torch.export`` based exporter) at a fixed
image side and a dynamic batch. :func:`verify_export` runs the same images through both and reports the
largest absolute difference of the logits and how often the two agree on the top-1 class;
:func:`onnx_latency` times ONNX Runtime's CPU provider like :func:`~asvit.deploy.latency.measure_latency`
times PyTorch."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..atomic import atomic_path
from .latency import Latency, LatencySettings, time_call

INPUT = "images"
OUTPUT = "logits"
LOCAL_METADATA = "pkg.torch.onnx.stack_trace"  # source paths of this machine: the same model, other bytes


def export_onnx(model: nn.Module, path: Path, image_size: int) -> Path:
    """Write ``model`` (eval mode) to ``path`` as ONNX: input ``images`` of shape (batch, 3, image_size,
    image_size), the batch dynamic; output ``logits``. Each node's stack trace is left out, so the file
    depends on the weights and the code, not on where the project lives."""
    model = model.eval()
    example = torch.zeros(2, 3, image_size, image_size)
    batch = torch.export.Dim("batch", min=1)
    with _quiet_exporter():
        program = torch.onnx.export(model, (example,), input_names=[INPUT], output_names=[OUTPUT],
                                    dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    for node in program.model.graph.all_nodes():
        node.metadata_props.pop(LOCAL_METADATA, None)
    with atomic_path(path) as tmp:
        program.save(str(tmp))
    return path


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's warnings and progress log lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_session(path: Path, threads: int = 1):
    """An ONNX Runtime session of ``path`` on the CPU provider with ``threads`` intra-op threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Agreement:
    """ONNX Runtime against PyTorch on the same ``images``: the largest absolute logit difference and
    the percentage of images on which both predict the same class."""

    images: int
    max_abs_diff: float
    top1_agreement: float

    def as_dict(self) -> dict[str, float]:
        return {"verified_images": self.images, "max_abs_diff": float(f"{self.max_abs_diff:.3g}"),
                "top1_agreement": round(self.top1_agreement, 2)}


@torch.inference_mode()
def verify_export(path: Path, model: nn.Module, images: torch.Tensor) -> Agreement:
    """Run ``images`` (N, 3, S, S at the exported side) through the exported file and through ``model``."""
    expected = model.eval()(images).float().numpy()
    got = onnx_session(path).run([OUTPUT], {INPUT: images.numpy()})[0]
    agree = float(np.mean(expected.argmax(1) == got.argmax(1)) * 100)
    return Agreement(len(images), float(np.abs(expected - got).max()), agree)


def onnx_latency(path: Path, settings: LatencySettings) -> Latency:
    """Latency of one ONNX Runtime CPU call on ``settings.batch_size`` images with ``settings.threads``
    threads (ONNX Runtime runs on the CPU whatever ``settings.device``)."""
    session = onnx_session(path, settings.threads)
    feed = {INPUT: settings.images().numpy()}
    return time_call(lambda: session.run([OUTPUT], feed), settings.threads)
