"""gan_core: PyTorch training of tileable texture GANs. Knows nothing of ONNX or Blender."""
__version__ = "0.1.0"
