"""Pareto fronts (pure, with hypothesis), sweep figures carry their data, ``perfsim plot``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from perfsim.cli import main
from perfsim.report.sweep_plots import (
    breakdown_plot,
    heatmap,
    line_plot,
    pareto_front,
    pareto_plot,
)
from perfsim.sweep import pareto_mask


def _dominates(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(a <= b) and np.any(a < b))


def test_pareto_by_hand() -> None:
    # (latency, energy): (1, 5) and (3, 1) trade off; (2, 2) too; (3, 3) is beaten by (2, 2);
    # (1, 5) twice: equal designs do not dominate each other
    values = [[1, 5], [3, 1], [2, 2], [3, 3], [1, 5], [4, 4]]
    assert pareto_mask(values).tolist() == [True, True, True, False, True, False]
    # maximize the second objective instead: (1, 5) beats everything but itself
    assert pareto_mask(values, [False, True]).tolist() == [True, False, False, False, True, False]
    assert pareto_mask([[1.0, float("nan")], [2.0, 2.0]]).tolist() == [False, True]


@settings(max_examples=150, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.integers(1, 4)),
        elements=st.integers(0, 6).map(float),  # small ints: many ties and duplicates
    )
)
def test_pareto_front_is_exactly_the_non_dominated_set(values: np.ndarray) -> None:
    mask = pareto_mask(values)
    for i in range(len(values)):
        dominated = any(_dominates(values[j], values[i]) for j in range(len(values)) if j != i)
        # no returned point is dominated; every dropped point is dominated
        assert mask[i] == (not dominated)
    assert mask.any()  # a finite set always has a non-dominated member


@pytest.fixture
def table() -> pd.DataFrame:
    rows = []
    for rows_ in (32, 64, 128):
        for sram in (1, 4):
            latency = 1e-3 * 64 / rows_ + 1e-4 / sram
            rows.append(
                {
                    "point": len(rows),
                    "design": f"matrix.rows={rows_}, sram={sram} MiB",
                    "matrix.rows": rows_,
                    "memory.sram.capacity": sram * 2**20,
                    "latency_s": latency,
                    "energy_per_inference_j": 0.01 * rows_ / 64 + 0.001 * sram,
                    "on_chip_bytes": sram * 2**20,
                    "latency_gemm_s": latency * 0.8,
                    "latency_softmax_s": latency * 0.2,
                    "latency_other_s": 0.0,
                    "feasible": sram == 1,
                }
            )
    return pd.DataFrame(rows)


def test_pareto_front_leaves_out_an_objective_no_design_has() -> None:
    # area_mm2 None for every design (calibrated files): the front is latency x energy
    frame = pd.DataFrame(
        {"latency_s": [1.0, 2.0, 3.0], "energy_j": [3.0, 1.0, 4.0], "area_mm2": [None] * 3}
    )
    front = pareto_front(frame, ["latency_s", "energy_j", "area_mm2"])
    assert front.tolist() == [True, True, False]


def test_pareto_plot_highlights_the_front_and_names_designs(table: pd.DataFrame) -> None:
    figure = pareto_plot(table, "latency_s", "energy_per_inference_j")
    dominated, front = figure.data
    expected = table[pareto_mask(table[["latency_s", "energy_per_inference_j"]].to_numpy())]
    assert sorted(front.text) == sorted(expected["design"])
    assert sorted(dominated.text) == sorted(set(table["design"]) - set(expected["design"]))
    assert np.allclose(sorted(front.x), sorted(expected["latency_s"]))


def test_heatmap_takes_the_best_value_per_cell(table: pd.DataFrame) -> None:
    figure = heatmap(table, "matrix.rows", "memory.sram.capacity", "latency_s")
    z = np.asarray(figure.data[0].z)
    assert z.shape == (2, 3)
    # row 0 = 1 MiB, column 0 = 32 rows: 1e-3 * 2 + 1e-4
    assert z[0, 0] == pytest.approx(2e-3 + 1e-4)
    assert list(figure.data[0].x) == ["32", "64", "128"]


def test_line_and_breakdown_carry_every_point(table: pd.DataFrame) -> None:
    figure = line_plot(table, "matrix.rows", "latency_s", "memory.sram.capacity")
    assert len(figure.data) == 2  # one line per SRAM size
    assert sum(len(trace.x) for trace in figure.data) == len(table)
    bars = breakdown_plot(table)
    assert [trace.name for trace in bars.data] == ["gemm", "softmax"]  # all-zero other dropped
    gemm = bars.data[0]
    assert np.allclose(sorted(gemm.y), sorted(table["latency_gemm_s"] * 1e6))


def test_cli_plot_replots_a_table(
    table: pd.DataFrame, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.parquet"
    table.to_parquet(results)
    out = tmp_path / "plots" / "pareto.html"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "plot",
                str(results),
                "--x",
                "latency_s",
                "--y",
                "energy_per_inference_j",
                "--kind",
                "pareto",
                "--out",
                str(out),
            ]
        )
    assert done.value.code == 0
    text = out.read_text(encoding="utf-8")
    assert "Pareto front" in text and "matrix.rows=32, sram=1 MiB" in text
    with pytest.raises(SystemExit) as done:
        main(
            [
                "plot",
                str(results),
                "--x",
                "latency_s",
                "--y",
                "nope",
                "--out",
                str(tmp_path / "x.html"),
            ]
        )
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.count("\n") == 1
    assert "no column 'nope' in the results" in err
    assert not (tmp_path / "x.html").exists()
    with pytest.raises(SystemExit) as done:
        main(
            [
                "plot",
                str(tmp_path / "missing.csv"),
                "--x",
                "a",
                "--y",
                "b",
                "--out",
                str(tmp_path / "y.html"),
            ]
        )
    assert done.value.code == 2 and "file not found" in capsys.readouterr().err
