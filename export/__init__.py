"""Trained run -> self-describing, verified ONNX model (see export/onnx_export.py, docs/onnx-format.md)."""
from .onnx_export import DEFAULT_OPSET, ExportError, export_run, verify, weights_sha256

__all__ = ["DEFAULT_OPSET", "ExportError", "export_run", "verify", "weights_sha256"]
