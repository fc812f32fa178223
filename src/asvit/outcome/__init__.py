"""What each design method's pick is worth once trained (docs/design.md section 15): the picks and
references (:mod:`.picks`) and where each stands among the sampled architectures (:mod:`.standing`)."""
