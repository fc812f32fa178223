"""Weight-sharing supernets: AutoFormer's weight-entangled one-shot supernet."""

from .autoformer import SuperAutoFormer, extract_subnet, largest_arch, sample_subnet

__all__ = ["SuperAutoFormer", "extract_subnet", "largest_arch", "sample_subnet"]
