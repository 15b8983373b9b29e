"""Design-space sweeps: a spec (YAML) → validated points → one tidy results table.

from perfsim.sweep import Workers, run_sweep
outcome = run_sweep("workloads/sweeps/npu-array-sram-dram.yaml", workers=Workers(jobs=2))
outcome.frame.sort_values("latency_s").head()
"""

from perfsim.sweep.axes import expand
from perfsim.sweep.expr import Expression, parse_expression
from perfsim.sweep.fast import GroupedGraph, group_graph, point_metrics
from perfsim.sweep.override import override, override_many
from perfsim.sweep.pareto import pareto_mask
from perfsim.sweep.plan import Point, plan
from perfsim.sweep.runner import SweepOutcome, Workers, run_sweep
from perfsim.sweep.spec import SweepSpec, load_sweep_spec
from perfsim.sweep.store import read_table
from perfsim.sweep.table import derive

__all__ = [
    "Expression",
    "GroupedGraph",
    "Point",
    "SweepOutcome",
    "SweepSpec",
    "Workers",
    "derive",
    "expand",
    "group_graph",
    "load_sweep_spec",
    "override",
    "override_many",
    "pareto_mask",
    "parse_expression",
    "plan",
    "point_metrics",
    "read_table",
    "run_sweep",
]
