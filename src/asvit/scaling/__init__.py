"""The scaling rule: the seed topology grown into a family, one block and one width step at a time,
each step chosen by the training-free proxies (docs/design.md section 8)."""

from .grow import (ALL_BAD, NOTHING_FITS, TARGET_REACHED, Grower, GrowError, GrowResult, Member, assign_targets,
                   grow_candidates, grow_family, grow_fingerprint, member_name, read_seed_topology,
                   real_latency_meter, real_size_counters, seed_latency_limit)

__all__ = ["ALL_BAD", "NOTHING_FITS", "TARGET_REACHED", "GrowError", "Grower", "GrowResult", "Member",
           "assign_targets", "grow_candidates", "grow_family", "grow_fingerprint", "member_name",
           "read_seed_topology", "real_latency_meter", "real_size_counters", "seed_latency_limit"]
