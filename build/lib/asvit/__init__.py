"""As-ViT: designing and scaling Vision Transformers without training."""

__version__ = "0.1.0"
