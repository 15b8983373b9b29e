"""`perfsim.totals.Totals`: the weighted sum of op costs is additive over sets of runs."""

from __future__ import annotations

import pytest

from perfsim.cache import GraphStore
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.totals import Totals, ratio


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_totals_of_two_halves_add_to_the_whole(engine: str, store: GraphStore) -> None:
    result = simulate(Scenario("bert-tiny", batch=2, seq=64), "a100", engine=engine, store=store)
    costs = list(result.costs)
    half = len(costs) // 2
    whole, split = Totals.of(costs), Totals.of(costs[:half]) + Totals.of(costs[half:])
    assert split.latency_s == pytest.approx(whole.latency_s, rel=1e-12)
    assert split.energy_j == pytest.approx(whole.energy_j, rel=1e-12)
    assert split.flops == whole.flops and split.n_ops == whole.n_ops == len(costs)
    assert split.traffic_bytes == pytest.approx(whole.traffic_bytes, rel=1e-12)
    assert split.energy_breakdown_j == pytest.approx(whole.energy_breakdown_j, rel=1e-12)
    assert list(split.by_category) == list(whole.by_category)  # taxonomy order kept
    for name, row in whole.by_category.items():
        assert split.by_category[name].latency_s == pytest.approx(row.latency_s, rel=1e-12)
    # counts weight each op: running every op twice doubles every total
    twice = Totals.of(costs, [2] * len(costs))
    assert twice.latency_s == pytest.approx(2 * whole.latency_s, rel=1e-12)
    assert twice.flops == 2 * whole.flops


def test_ratio_guards_an_empty_run() -> None:
    assert ratio(3.0, 0.0) == 0.0
    assert ratio(3.0, 2.0) == 1.5
    assert Totals().category_rows() == {}
