"""Weight-sharing supernets (docs/design.md section 11): AutoFormer's weight-entangled one-shot
supernet with ViTAS's cyclic channel sharing and identity shifting, a supernet over the As-ViT
space, their training one sampled subnet per step, and AutoFormer's evolutionary search."""

from .asvit import SuperASViT, extract_asvit_subnet, largest_topology
from .autoformer import Subnet, SuperAutoFormer, cyclic_offsets, extract_subnet, largest_arch, sample_subnet
from .evolution import ASViTOps, AutoFormerOps, EvolutionError, EvolutionResult, SpaceOps, evolve
from .training import SampledSubnets, SubnetView, SupernetSpec, heldout_split, inherited_accuracy

__all__ = ["ASViTOps", "AutoFormerOps", "EvolutionError", "EvolutionResult", "SampledSubnets", "SpaceOps",
           "SubnetView", "SuperASViT", "SuperAutoFormer", "Subnet", "SupernetSpec", "cyclic_offsets", "evolve",
           "extract_asvit_subnet", "extract_subnet", "heldout_split", "inherited_accuracy", "largest_arch",
           "largest_topology", "sample_subnet"]
