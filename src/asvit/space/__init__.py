"""Search spaces: As-ViT topologies and AutoFormer architecture records."""

from .asvit import (DECISIONS, SPACE_SIZE, Decision, Topology, TopologyError, mutate, parse_topology, sample_topologies,
                    sample_topology)
from .autoformer import AUTOFORMER_SPACES, ArchitectureError, AutoFormerArch, AutoFormerSpace, sample_autoformer
from .catalog import SPACES, space_for

__all__ = [
    "DECISIONS", "SPACE_SIZE", "Decision", "Topology", "TopologyError", "mutate", "parse_topology",
    "sample_topologies", "sample_topology", "AUTOFORMER_SPACES", "ArchitectureError",
    "AutoFormerArch", "AutoFormerSpace", "sample_autoformer", "SPACES", "space_for",
]
