"""`perfsim.validation`: profiler → category mapping, case files, frames and the figure.

One real measurement (bert-tiny, batch 1, seq 16, one repeat) is shared by the module; no
test asserts anything about how long an op takes, only where its time is booked.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from perfsim.cache import GraphStore
from perfsim.errors import SpecError, WorkloadError
from perfsim.estimate import Result
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.ir import Category
from perfsim.pipeline import estimate
from perfsim.validation import (
    OVERHEAD,
    SUMMARY_COLUMNS,
    CaseResult,
    Measurement,
    OpEvent,
    attribute,
    category_frame,
    compare,
    host_hardware,
    load_cases,
    measure_model,
    median_abs_error,
    render_validation_outputs,
    results_json,
    summary_frame,
    validation_figure,
)
from perfsim.validation.measure import MeasureOptions
from perfsim.validation.validate import idle_share
from perfsim.workload import load_workload

ROOT = Path(__file__).resolve().parent.parent
XEON = ROOT / "hwconfigs" / "xeon-8380.yaml"
CASES = ROOT / "workloads" / "validation-cases.yaml"
CATEGORY_VALUES = {category.value for category in Category}


@pytest.fixture(scope="module")
def measured() -> Measurement:
    options = MeasureOptions(threads=1, warmup=1, repeats=1, min_time_s=0.0)
    return measure_model("bert-tiny", batch=1, seq=16, options=options)


@pytest.fixture(scope="module")
def xeon() -> HardwareSpec:
    return load_hardware(XEON)


@pytest.fixture(scope="module")
def prediction(xeon: HardwareSpec, store: GraphStore) -> Result:
    workload = load_workload("bert-tiny", batch=1, seq=16, precision="fp32")
    return estimate(workload, host_hardware(xeon, 1), store=store)


@pytest.fixture(scope="module")
def case(prediction: Result, measured: Measurement) -> CaseResult:
    return compare(prediction, measured)


# --- the mapping, on a hand-built profiler tree -------------------------------------------


def ev(name: str, self_us: float, *children: OpEvent) -> OpEvent:
    """An event whose total is its self time plus its children's totals (as the profiler's)."""
    total = self_us * 1e-6 + sum(child.total_s for child in children)
    return OpEvent(name, self_us * 1e-6, total, children)


def test_attribute_books_each_event_once() -> None:
    forward = ev(
        "perfsim.validation.forward",
        100,  # interpreter time between ops → overhead
        ev(  # composite: self 5 → gemm (its own table entry); its children below
            "aten::linear",
            5,
            ev("aten::t", 1, ev("aten::transpose", 1, ev("aten::as_strided", 1))),  # 3 → gemm
            ev("aten::addmm", 40, ev("aten::copy_", 8)),  # kernel: total 48 → gemm, not 8 → copy
        ),
        ev("aten::view", 2),  # a view the model's Python issues itself → overhead
        ev(  # composite without a table entry: its largest kernel decides → attn_gemm
            "aten::matmul",
            4,
            ev("aten::expand", 1),  # view inside matmul → attn_gemm
            ev("aten::bmm", 30),
        ),
        ev("aten::dropout", 1),  # eval-mode dropout: composite, returns its input → dropout
        ev("aten::contiguous", 2, ev("aten::clone", 6, ev("aten::copy_", 3))),  # 2 + 9 → data
        ev("aten::reshape", 1, ev("aten::_reshape_alias", 1)),  # pure view → overhead
        ev("aten::nonexistent_op", 3),  # not an aten op torch knows: transparent → overhead
        ev("aten::cumsum", 7),  # a kernel the tracer table has → reduction
    )
    seconds = attribute(forward).seconds
    expected_us = {
        "gemm": 5 + 3 + 48,
        "attn_gemm": 4 + 1 + 30,
        "dropout": 1,
        "data_movement": 2 + 9,
        "reduction": 7,
        OVERHEAD: 100 + 2 + 1 + 1 + 3,
    }
    assert seconds == pytest.approx({k: v * 1e-6 for k, v in expected_us.items()})
    # every microsecond of the forward is booked exactly once
    assert sum(seconds.values()) == pytest.approx(forward.total_s)


def test_attribute_device_time_books_kernels() -> None:
    kernel = OpEvent("aten::addmm", 5e-6, 5e-6, (), self_device_s=20e-6, total_device_s=20e-6)
    linear = OpEvent("aten::linear", 1e-6, 6e-6, (kernel,), total_device_s=20e-6)
    forward = OpEvent("perfsim.validation.forward", 50e-6, 56e-6, (linear,))
    assert attribute(forward, device_time=True).seconds == pytest.approx(
        {"gemm": 20e-6, OVERHEAD: 0.0}
    )


# --- the mapping, on a real profiled bert-tiny ---------------------------------------------


def test_measured_categories_are_perfsim_categories(measured: Measurement) -> None:
    assert set(measured.category_s) <= CATEGORY_VALUES
    assert set(measured.profiled_category_s) <= CATEGORY_VALUES
    # the ops bert-tiny runs are all in the tracer's table
    assert Category.OTHER.value not in measured.category_s
    assert {"gemm", "layernorm", "embedding"} <= set(measured.category_s)


def test_gemm_time_is_attributed_to_gemm(measured: Measurement) -> None:
    # 2 layers x (q, k, v, attention output, FFN up, FFN down) + the pooler = 13 addmm
    assert measured.op_calls["aten::addmm"] == 13
    # addmm (with its internal bias copy) is booked whole to gemm; its parent aten::linear
    # is a composite and never counted as an op of its own
    assert "aten::linear" not in measured.op_s
    assert "aten::copy_" not in measured.op_s
    assert measured.profiled_category_s["gemm"] >= measured.op_s["aten::addmm"] > 0


def test_no_double_counting(measured: Measurement) -> None:
    booked = sum(measured.profiled_category_s.values()) + measured.profiled_overhead_s
    assert booked <= measured.profiled_s * (1 + 1e-9)
    assert booked == pytest.approx(measured.profiled_s, rel=1e-6)  # one repeat: exact
    scaled = sum(measured.category_s.values()) + measured.overhead_s
    assert scaled == pytest.approx(measured.wall_s)


def test_measurement_records_the_run(measured: Measurement) -> None:
    assert (measured.threads, measured.repeats, len(measured.wall_samples_s)) == (1, 1, 1)
    assert measured.events_per_forward > 100
    assert measured.to_dict()["category_s"] == dict(measured.category_s)


def test_measure_rejects_bad_arguments() -> None:
    with pytest.raises(WorkloadError, match="repeats"):
        measure_model("bert-tiny", batch=1, seq=16, options=MeasureOptions(repeats=0))
    with pytest.raises(WorkloadError, match="attention"):
        measure_model("bert-tiny", batch=1, seq=16, options=MeasureOptions(attention="flash3"))
    with pytest.raises(WorkloadError, match="--device"):
        measure_model("bert-tiny", batch=1, seq=16, options=MeasureOptions(device="tpu"))


# --- comparison, frames and figure ----------------------------------------------------------


def test_compare(case: CaseResult, prediction: Result, measured: Measurement) -> None:
    assert case.predicted_s == prediction.latency_s
    assert case.measured_s == measured.wall_s
    assert case.error == pytest.approx((case.predicted_s - case.measured_s) / case.measured_s)
    assert case.predicted_units == 1  # threads=1: the 40-core Xeon reduced to one core
    rows = {row["category"]: row for row in case.category_rows()}
    assert rows["total"]["measured_s"] == case.measured_s
    assert rows[OVERHEAD]["predicted_s"] == 0.0
    assert sum(r["measured_s"] for k, r in rows.items() if k != "total") == pytest.approx(
        case.measured_s
    )
    assert case.gemm_share_measured == pytest.approx(measured.category_s["gemm"] / measured.wall_s)


def test_summary_frame_columns(case: CaseResult) -> None:
    frame = summary_frame([case, case])
    assert tuple(frame.columns) == SUMMARY_COLUMNS
    assert len(frame) == 2
    assert frame["abs_error"].iloc[0] == abs(case.error)
    assert median_abs_error([case, case]) == abs(case.error)
    long = category_frame([case])
    assert {"category", "predicted_s", "measured_s", "error"} <= set(long.columns)
    assert math.isnan(median_abs_error([]))


def test_figure_and_outputs_build(case: CaseResult) -> None:
    figure = validation_figure([case])
    names = [trace.name for trace in figure.data]
    assert names[:3] == ["predicted", "measured", "cases"]
    files = render_validation_outputs([case])
    assert set(files) == {"validation.csv", "categories.csv", "validation.json", "validation.html"}
    assert results_json([case])["median_abs_error"] == abs(case.error)


def test_host_hardware_keeps_more_cores_than_threads(xeon: HardwareSpec) -> None:
    assert host_hardware(xeon, 64) is xeon
    assert host_hardware(xeon, 4).compute.units == 4
    assert host_hardware(xeon, 4).compute.clock == xeon.compute.clock


# --- case files -----------------------------------------------------------------------------


def test_shipped_cases_load() -> None:
    cases = load_cases(CASES)
    assert cases and all({"model", "batch", "seq"} <= set(c) for c in cases)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cases.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_cases(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "version: 1\ncases:\n  - {model: bert-tiny, batch: 1, seq: 16}\n"
        "  - {model: bert-mini, batch: 8, seq: 128, threads: 1}\n",
    )
    assert load_cases(path) == [
        {"model": "bert-tiny", "batch": 1, "seq": 16},
        {"model": "bert-mini", "batch": 8, "seq": 128, "threads": 1},
    ]


@pytest.mark.parametrize(
    ("cases", "message"),
    [
        ("  - {model: bert-tiny, batch: 1}", r"cases\[0\]\.seq: missing required field"),
        ("  - {model: bert-tiny, batch: 0, seq: 16}", r"cases\[0\]\.batch: .*greater than 0"),
        ("  - {model: bert-tiny, batch: eight, seq: 16}", r"cases\[0\]\.batch: .*integer"),
        ("  - {model: bert-tiny, batch: 1.5, seq: 16}", r"cases\[0\]\.batch: .*integer"),
        ("  - {model: bert-tiny, batch: 1, seq: 16, mode: x}", r"cases\[0\]\.mode: unknown key"),
        ("  - {model: bert-tni, batch: 1, seq: 16}", r"cases\[0\]\.model: unknown model"),
        ("  - {model: bert-tiny, batch: 1, seq: 4096}", r"cases\[0\]\.seq: 4096 is longer"),
        ("  []", r"cases: .*at least 1"),
    ],
)
def test_load_cases_errors_name_file_and_field(tmp_path: Path, cases: str, message: str) -> None:
    path = write(tmp_path, f"version: 1\ncases:\n{cases}\n")
    with pytest.raises(SpecError, match=message) as error:
        load_cases(path)
    assert str(error.value).startswith(f"{path}: ")


def test_load_cases_rejects_duplicate_keys_and_missing_file(tmp_path: Path) -> None:
    path = write(tmp_path, "version: 1\ncases:\n  - {model: bert-tiny, batch: 1, batch: 2}\n")
    with pytest.raises(SpecError, match=r"cases\[0\]\.batch: duplicate key"):
        load_cases(path)
    with pytest.raises(SpecError, match="file not found"):
        load_cases(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("loads", "calls", "kept"),
    [
        ((0.05,), 1, 0.05),  # quiet: measured once
        ((0.5, 0.02), 2, 0.02),  # disturbed, then quiet: the quiet one
        ((0.5, 0.2, 0.3, 0.01), 3, 0.2),  # busy throughout: three tries, least disturbed kept
        ((None,), 1, None),  # no /proc/stat: nothing to judge, measured once
    ],
)
def test_disturbed_measurements_are_repeated(
    monkeypatch: pytest.MonkeyPatch,
    measured: Measurement,
    store: GraphStore,
    loads: tuple[float | None, ...],
    calls: int,
    kept: float | None,
) -> None:
    import importlib
    from dataclasses import replace

    # the package re-exports the function compare, which shadows the module's name
    compare_module = importlib.import_module("perfsim.validation.validate")
    # runs on every CPU, so no idle share excuses others' load (`idle_share`)
    cpus = os.cpu_count() or 1
    queue = [replace(measured, foreign_load=load, threads=cpus) for load in loads]
    made: list[Measurement] = []

    def fake(*args: object, **kwargs: object) -> Measurement:
        made.append(queue.pop(0))
        return made[-1]

    monkeypatch.setattr(compare_module, "measure_model", fake)
    case = {"model": measured.model, "batch": measured.batch, "seq": measured.seq}
    result = compare_module.validate_case(case, XEON, store=store)
    assert len(made) == calls
    assert result.measurement.foreign_load == kept


@pytest.mark.parametrize(
    ("threads", "cpus", "idle"),
    [(1, 2, 0.5), (2, 2, 0.0), (4, 2, 0.0), (3, 16, 13 / 16)],
)
def test_idle_share(threads: int, cpus: int, idle: float) -> None:
    # a 1-thread run on 2 CPUs leaves one CPU, half the machine, to others
    assert idle_share(threads, cpus) == pytest.approx(idle)
