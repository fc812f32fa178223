"""Deployment: forward latency on the user's device (:mod:`.latency`) and ONNX export checked
against PyTorch (:mod:`.export`, which needs ``onnx`` and ``onnxruntime`` and is imported on demand)."""

from .latency import DeviceError, Latency, LatencySettings, measure_latency, time_call

__all__ = ["DeviceError", "Latency", "LatencySettings", "measure_latency", "time_call"]
