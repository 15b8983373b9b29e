"""Training-step questions that need no torch: memory footprint, and the largest batch that fits.

The step itself is traced by `perfsim.trace.train_step`; this package reads what the trace
measured (``graph.meta.memory``).
"""

from perfsim.training.fit import FitResult, largest_batch
from perfsim.training.footprint import MemoryFootprint, memory_footprint

__all__ = ["FitResult", "MemoryFootprint", "largest_batch", "memory_footprint"]
