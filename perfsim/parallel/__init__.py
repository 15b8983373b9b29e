"""Multi-device training: collectives on a described interconnect, data-parallel steps,
and time to train a multi-phase schedule."""

from perfsim.parallel.collectives import CollectiveTime, allreduce

__all__ = ["CollectiveTime", "allreduce"]
