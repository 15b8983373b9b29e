"""`perfsim calibrate`: a quick host calibration gives a loadable, fully sourced hardware file
whose derived peaks are the measurements; the pure parts (parsers, working sets, the YAML
writer on synthetic records, CUDA included) are checked by hand. No timing assertions."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from pathlib import Path

import pytest
import yaml

from perfsim.calibration import (
    BandwidthResult,
    Calibration,
    GemmResult,
    MemoryInfo,
    VectorResult,
    calibrate,
    calibration_yaml,
    measure_host,
    write_hardware_file,
)
from perfsim.calibration.cpu import bandwidth_plan, working_sets
from perfsim.calibration.probe import (
    contention,
    cpu_seconds,
    detect_isa,
    parse_cache_size,
    parse_cpu_list,
    parse_cpuinfo,
    read_clock,
    read_memory,
)
from perfsim.calibration.record import ordered_bandwidths
from perfsim.calibration.rounds import slope_rate
from perfsim.calibration.timing import Effort, clock_timer
from perfsim.errors import SpecError
from perfsim.hardware import HardwareSpec, load_hardware
from perfsim.hardware.threads import at_threads

KIB, MIB, GIB = 2**10, 2**20, 2**30


# ---- one quick calibration, shared -------------------------------------------------------
@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, float]]]:
    """``calibrate(..., quick=True)`` once: the file and the progress calls it made."""
    calls: list[tuple[str, float]] = []
    out = tmp_path_factory.mktemp("calibrate") / "host.yaml"
    path = calibrate(
        out, quick=True, threads=2, progress=lambda step, done: calls.append((step, done))
    )
    return path, calls


@pytest.fixture(scope="module")
def measured() -> Calibration:
    """A second quick measurement, kept as the raw record (2 threads asked for, so a busy
    host does not calibrate for fewer)."""
    return measure_host(quick=True, threads=2)


@pytest.fixture(scope="module")
def spec(written: tuple[Path, list[tuple[str, float]]]) -> HardwareSpec:
    return load_hardware(written[0])


def test_quick_calibration_writes_a_loadable_cpu_file(
    written: tuple[Path, list[tuple[str, float]]], spec: HardwareSpec
) -> None:
    path, _ = written
    assert path.exists()
    assert spec.name == "host"  # the file stem, as `--hw <name>` resolution expects
    assert spec.kind == "cpu"
    assert spec.compute.matrix is not None and spec.compute.matrix.type == "simd"
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left nothing behind


def test_levels_and_dtypes(spec: HardwareSpec, measured: Calibration) -> None:
    names = [level.name for level in spec.memory]
    assert names[-1] == "dram"
    assert all(re.fullmatch(r"l\dd?", name) for name in names[:-1])
    assert names == [level.name for level in measured.memory]
    assert spec.compute.matrix is not None
    matrix = set(spec.compute.matrix.macs_per_cycle)
    assert {"fp32", "fp16", "bf16"} <= matrix
    # int8 is measured exactly when torch._int_mm works here; otherwise the file says why
    assert ("int8" in matrix) == (not measured.skipped)
    assert set(spec.compute.vector.flops_per_cycle) == {"fp32", "fp16", "bf16"}
    assert spec.native_precision == "fp32"
    assert {"fp32", "fp16", "bf16"} <= set(spec.supported_precisions())


def test_progress_reports_fractions_up_to_done(
    written: tuple[Path, list[tuple[str, float]]],
) -> None:
    _, calls = written
    fractions = [done for _, done in calls]
    assert calls[-1] == ("done", 1.0)
    assert fractions == sorted(fractions)
    assert all(0.0 <= done <= 1.0 for done in fractions)
    # every step is set up first (fraction 0), then the rounds run in turn: every figure's
    # round 1 before any figure's round 2 (the quick run plans 2, 4 on a busy host)
    assert any(step.startswith("setting up bandwidth dram") for step, _ in calls)
    rounds = [step for step, _ in calls if ": round " in step]
    planned = int(rounds[0].rsplit(" ", 1)[1])
    firsts = [step for step in rounds if step.endswith(f"round 1 of {planned}")]
    assert rounds[: len(firsts)] == firsts and len(rounds) == planned * len(firsts)
    assert any(step.startswith("GEMM fp32") for step in firsts)
    assert any(step.startswith("copy dram") for step in firsts)


# A line sets a number when its value holds a digit (as in test_hwconfigs.py)
_LINE = re.compile(
    r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w-]*)\s*:\s*(?P<value>[^#]*?)\s*(?:#(?P<note>.*))?$"
)


def _number_lines(text: str) -> list[tuple[str, str]]:
    """(line, its comment) for every line that sets a number."""
    found = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        assert match, f"not `key: value  # comment`: {line!r}"
        if match["key"] in {"version", "description", "name"}:
            continue
        if re.search(r"\d", match["value"]):
            found.append((line, match["note"] or ""))
    return found


def test_every_number_is_measured_or_assumed(
    written: tuple[Path, list[tuple[str, float]]],
) -> None:
    lines = _number_lines(written[0].read_text(encoding="utf-8"))
    assert len(lines) >= 15  # units, clock, tile, 4 matrix + 3 vector dtypes, levels, ...
    for line, note in lines:
        assert "source:" in note, line
        assert "measured by perfsim calibrate" in note or "assumed" in note, line


def test_numbers_are_positive(spec: HardwareSpec) -> None:
    assert spec.compute.units > 0 and spec.compute.clock > 0
    assert spec.op_overhead > 0
    assert spec.compute.matrix is not None
    assert all(value > 0 for value in spec.compute.matrix.macs_per_cycle.values())
    assert all(value > 0 for value in spec.compute.vector.flops_per_cycle.values())
    for level in spec.memory:
        assert level.capacity > 0 and level.bandwidth > 0, level.name


def test_host_terms_are_written(spec: HardwareSpec, measured: Calibration) -> None:
    # a CPU file charges its per-op framework time serially, and carries the GEMM
    # efficiency ladder (m ascending, fractions in (0, 1]) that the run measured
    assert spec.op_overhead_serial is True
    matrix = spec.compute.matrix
    assert matrix is not None and matrix.efficiency
    rows = [m for m, _ in matrix.efficiency]
    assert rows == sorted(rows) and len(rows) == len(measured.gemm_efficiency)
    assert all(0 < fraction <= 1 for _, fraction in matrix.efficiency)


def test_bandwidth_does_not_grow_outward(spec: HardwareSpec) -> None:
    aggregate = [spec.level_bandwidth(level) for level in spec.memory]
    # equal levels (one capped at the other) may differ in the 6th written digit
    assert all(near >= far * (1 - 1e-5) for near, far in pairwise(aggregate))


def _structure(text: str) -> list[str]:
    """The file with every value and comment dropped: key paths, level names, dtypes."""
    keys = []
    for line in text.splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        head = line.split("#")[0].rstrip()
        key, _, value = head.partition(":")
        keys.append(f"{key}: {value.strip()}" if key.strip() in {"- name", "type"} else key)
    return keys


def test_schema_is_deterministic(
    written: tuple[Path, list[tuple[str, float]]], measured: Calibration
) -> None:
    first = written[0].read_text(encoding="utf-8")
    second = calibration_yaml(measured, name="host")
    assert _structure(first) == _structure(second)
    assert yaml.safe_load(first).keys() == yaml.safe_load(second).keys()


def _load_text(text: str, tmp_path: Path) -> HardwareSpec:
    path = tmp_path / "calibrated.yaml"
    path.write_text(text, encoding="utf-8")
    return load_hardware(path)


def test_yaml_round_trips_the_measurements(measured: Calibration, tmp_path: Path) -> None:
    spec = _load_text(calibration_yaml(measured), tmp_path)
    assert spec.compute.units == measured.units
    assert spec.compute.clock == pytest.approx(measured.clock_hz, rel=1e-9)
    assert spec.op_overhead == pytest.approx(measured.op_overhead_s, rel=1e-5)
    for level, info, aggregate in zip(
        spec.memory, measured.memory, ordered_bandwidths(measured), strict=True
    ):
        assert level.per_unit == info.per_unit
        assert spec.level_capacity(level) == info.capacity_bytes * (
            measured.units if info.per_unit else info.instances
        )
        assert spec.level_bandwidth(level) == pytest.approx(aggregate, rel=1e-5)


def test_calibrated_file_asks_for_no_die_area(measured: Calibration, tmp_path: Path) -> None:
    # the node is a stated default, not the part's: no area rather than a made-up one
    from perfsim.area import die_area

    spec = _load_text(calibration_yaml(measured), tmp_path)
    assert spec.area is not None and spec.area.estimate is False
    assert die_area(spec) is None


def test_derived_peaks_equal_the_measurements(measured: Calibration, tmp_path: Path) -> None:
    spec = _load_text(calibration_yaml(measured), tmp_path)
    for dtype in measured.gemm_dtypes:
        # the median of the shapes; fp32 with an efficiency grid: the best rate seen
        measured_flops = measured.gemm_peak_flops_per_s(dtype)
        assert spec.matrix_peak_flops(dtype) == pytest.approx(measured_flops, rel=1e-6)
    for dtype in measured.vector_dtypes:
        measured_flops = measured.vector_result(dtype).median_flops_per_s
        assert spec.vector_peak_flops(dtype) == pytest.approx(measured_flops, rel=1e-6)


def test_single_thread_figures_are_kept(measured: Calibration, tmp_path: Path) -> None:
    assert measured.units == 2
    spec = _load_text(calibration_yaml(measured), tmp_path)
    single = spec.compute.single_thread
    assert single is not None and single.op_overhead is not None
    assert set(single.macs_per_cycle) == set(measured.gemm_dtypes)
    assert set(single.flops_per_cycle) == set(measured.vector_dtypes)
    assert set(single.bandwidth) == {level.name for level in measured.memory}
    for dtype in measured.gemm_dtypes:
        assert measured.gemm_result(dtype, threads=1).median_flops_per_s > 0


def test_single_thread_block_by_hand(tmp_path: Path) -> None:
    spec = _load_text(calibration_yaml(_synthetic("cpu")), tmp_path)
    single = spec.compute.single_thread
    assert single is not None
    # 1 thread: median of 1e11, 2e11, 4e11 FLOP/s = 2e11 / (2 x 2 GHz) -> 50 MAC/clk
    assert single.macs_per_cycle["fp32"] == pytest.approx(50.0)
    # median of 8, 6, 1 GFLOP/s = 6e9 / 2 GHz -> 3 FLOP/clk
    assert single.flops_per_cycle["fp32"] == pytest.approx(3.0)
    assert single.bandwidth == {"l1d": pytest.approx(150e9)}  # best of copy 150 / triad 100
    one = at_threads(spec, 1)
    assert one.compute.units == 1 and one.compute.single_thread is None
    assert one.matrix_peak_flops("fp32") == pytest.approx(2e11)
    assert one.vector_peak_flops("fp32") == pytest.approx(6e9)
    assert one.level_bandwidth(one.memory[0]) == pytest.approx(150e9)
    # l2 has no 1-thread figure: per unit 125 GB/s, one unit
    assert one.level_bandwidth(one.memory[1]) == pytest.approx(125e9)
    assert one.op_overhead == spec.op_overhead  # no 1-thread framework time recorded
    assert at_threads(spec, 2) is spec


# ---- errors and the atomic write --------------------------------------------------------
def test_unknown_device_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="--device"):
        calibrate(tmp_path / "x.yaml", device="tpu")


def test_cuda_without_a_device_is_a_spec_error(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this host has a CUDA device")
    with pytest.raises(SpecError, match="cuda"):
        calibrate(tmp_path / "x.yaml", device="cuda")
    assert not (tmp_path / "x.yaml").exists()


def test_invalid_text_never_replaces_the_file(tmp_path: Path) -> None:
    out = tmp_path / "host.yaml"
    out.write_text("keep me\n", encoding="utf-8")
    with pytest.raises(SpecError):
        write_hardware_file(out, "version: 1\nname: host\n")
    assert out.read_text(encoding="utf-8") == "keep me\n"
    assert list(tmp_path.iterdir()) == [out]


# ---- pure parts, by hand -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "cpus"),
    [("0", {0}), ("0-3", {0, 1, 2, 3}), ("0,64", {0, 64}), ("0-1,4,6-7", {0, 1, 4, 6, 7})],
)
def test_parse_cpu_list(text: str, cpus: set[int]) -> None:
    assert parse_cpu_list(text) == cpus


@pytest.mark.parametrize(
    ("text", "size"),
    [("48K", 48 * KIB), ("2048K", 2 * MIB), ("307200K", 300 * MIB), ("32M", 32 * MIB)],
)
def test_parse_cache_size(text: str, size: int) -> None:
    assert parse_cache_size(text) == size


CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz
cpu MHz\t\t: 2300.000
flags\t\t: fpu sse avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni

processor\t: 1
model name\t: other
"""


def test_parse_cpuinfo_reads_the_first_block() -> None:
    info = parse_cpuinfo(CPUINFO)
    assert info.model_name.startswith("Intel(R) Xeon(R) Platinum 8380")
    assert info.mhz == 2300.0
    assert "avx512f" in info.flags


@pytest.mark.parametrize(
    ("flags", "isa", "tile"),
    [
        # oneDNN gemm_info.cpp f32 register blocks: avx512_core 48x8, avx2 24x4, avx 16x4
        ("avx avx2 fma avx512f avx512dq avx512bw avx512vl amx_bf16", "avx512_core", (48, 8)),
        ("avx avx2 fma", "avx2", (24, 4)),
        ("avx", "avx", (16, 4)),
        ("asimd sve", "generic", (8, 8)),
    ],
)
def test_detect_isa(flags: str, isa: str, tile: tuple[int, int]) -> None:
    name, found, why = detect_isa(frozenset(flags.split()))
    assert name.split("+")[0] == isa
    assert found == tile
    assert ("assumed" in why) == (isa == "generic")


def _fake_sysfs(root: Path, cpus: int) -> None:
    """Two private levels and one shared L3 for ``cpus`` CPUs (one thread per core)."""
    caches = [("1", "48K", "Data", None), ("1", "32K", "Instruction", None)]
    caches += [("2", "2048K", "Unified", None), ("3", "32768K", "Unified", f"0-{cpus - 1}")]
    for cpu in range(cpus):
        base = root / f"sys/devices/system/cpu/cpu{cpu}"
        (base / "topology").mkdir(parents=True)
        (base / "topology/thread_siblings_list").write_text(f"{cpu}\n")
        for index, (level, size, kind, shared) in enumerate(caches):
            folder = base / f"cache/index{index}"
            folder.mkdir(parents=True)
            (folder / "level").write_text(level)
            (folder / "size").write_text(size)
            (folder / "type").write_text(kind)
            (folder / "shared_cpu_list").write_text(shared or str(cpu))
    (root / "proc").mkdir()
    (root / "proc/meminfo").write_text("MemTotal:       16384000 kB\nMemAvailable: 1 kB\n")


def test_read_memory_from_a_fake_sysfs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_sysfs(tmp_path, cpus=2)
    monkeypatch.setattr("perfsim.calibration.probe.used_cpus", lambda threads: (0, 1))
    levels = read_memory(tmp_path, threads=2)
    assert [(m.name, m.capacity_bytes, m.per_unit, m.instances) for m in levels] == [
        ("l1d", 48 * KIB, True, 2),
        ("l2", 2 * MIB, True, 2),
        ("l3", 32 * MIB, False, 1),
        ("dram", 16384000 * KIB, False, 1),
    ]


def test_clock_prefers_sysfs_then_cpuinfo(tmp_path: Path) -> None:
    info = parse_cpuinfo(CPUINFO)
    hz, source = read_clock(tmp_path, parse_cpuinfo(""))  # nothing to read
    assert hz == 1e9 and source.startswith("assumed")
    hz, source = read_clock(tmp_path, info)
    assert hz == 2.3e9 and "cpu MHz" in source
    cpufreq = tmp_path / "sys/devices/system/cpu/cpu0/cpufreq"
    cpufreq.mkdir(parents=True)
    (cpufreq / "cpuinfo_max_freq").write_text("3400000\n")  # kHz
    hz, source = read_clock(tmp_path, info)
    assert hz == 3.4e9 and "cpuinfo_max_freq" in source
    (cpufreq / "base_frequency").write_text("2300000\n")
    hz, source = read_clock(tmp_path, info)
    assert hz == 2.3e9 and "base_frequency" in source


MEMORY = (
    MemoryInfo("l1d", 48 * KIB, True, 2, "test"),
    MemoryInfo("l2", 2 * MIB, True, 2, "test"),
    MemoryInfo("l3", 300 * MIB, False, 1, "test"),
    MemoryInfo("dram", 24 * GIB, False, 1, "test"),
)


def test_working_sets_sit_in_their_level() -> None:
    spare = 16 * GIB
    # L1 on one thread: 1/8 and 1/2 of 48 KiB
    assert working_sets(MEMORY, 0, 1, quick=False, spare_bytes=spare) == (6 * KIB, 24 * KIB)
    # L2 on one thread: sqrt(48 KiB * 2 MiB) = 310.4 KiB, and half of it
    lo, hi = working_sets(MEMORY, 1, 1, quick=False, spare_bytes=spare)
    assert hi == 321_059 and lo == hi // 2
    # L2 on two threads: the small size holds 32768 triad elements (12 B) per thread
    assert working_sets(MEMORY, 1, 2, quick=False, spare_bytes=spare) == (
        2 * 32768 * 12,
        4 * 32768 * 12,
    )
    # L3 on two threads: sqrt(2 x 2 MiB * 300 MiB) = 34.6 MiB
    lo, hi = working_sets(MEMORY, 2, 2, quick=False, spare_bytes=spare)
    assert 4 * MIB < lo < hi < 300 * MIB
    # DRAM: 4x and 2x the 300 MiB L3, unless memory is short or the run is quick
    assert working_sets(MEMORY, 3, 2, quick=False, spare_bytes=spare) == (600 * MIB, 1200 * MIB)
    assert working_sets(MEMORY, 3, 2, quick=False, spare_bytes=600 * MIB)[1] == 400 * MIB
    assert working_sets(MEMORY, 3, 2, quick=True, spare_bytes=spare) == (2 * MIB, 4 * MIB)


def test_l1_is_measured_on_one_thread_only() -> None:
    assert bandwidth_plan(MEMORY, 2) == ((0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (3, 2))
    assert bandwidth_plan(MEMORY, 1) == ((0, 1), (1, 1), (2, 1), (3, 1))


def _synthetic(device: str, dram_bytes_per_s: float = 20e9) -> Calibration:
    """A hand-made calibration: 2 units at 2 GHz, round figures."""
    units = 2 if device == "cpu" else 100
    shapes = ((128, 768, 768), (128, 3072, 768), (512, 1024, 1024))
    dtypes = ("fp32", "bf16") if device == "cpu" else ("fp32", "tf32", "fp16", "bf16")
    gemm = tuple(
        GemmResult(dtype, threads, "torch.mm", shapes, (1e11, 2e11, 4e11))
        for threads in {1, units}
        for dtype in dtypes
    )
    vector = tuple(
        VectorResult(dtype, threads, ("add", "mul", "exp"), (8e9, 6e9, 1e9), (65536, 131072))
        for threads in {1, units}
        for dtype in ("fp32", "fp16", "bf16")
    )
    memory = MEMORY if device == "cpu" else (MEMORY[2], MEMORY[3])
    bandwidth = [BandwidthResult("l1d", 1, 150e9, 100e9, (6 * KIB, 24 * KIB))]
    bandwidth += [BandwidthResult("l2", units, 200e9, 250e9, (MIB, 2 * MIB))]
    bandwidth += [BandwidthResult("l3", units, 50e9, 60e9, (16 * MIB, 32 * MIB))]
    bandwidth += [BandwidthResult("dram", units, dram_bytes_per_s, 10e9, (GIB, 2 * GIB))]
    return Calibration(
        device="cpu" if device == "cpu" else "cuda",
        model_name="Test: CPU #1",
        torch_version="0.0",
        units=units,
        clock_hz=2e9,
        clock_source="test",
        isa="avx512_core",
        tile=(48, 8),
        tile_source="test",
        memory=memory,
        gemm=gemm,
        vector=vector,
        bandwidth=tuple(b for b in bandwidth if device == "cpu" or b.level in {"l3", "dram"}),
        op_overhead_s=3e-6,
        op_overhead_how="test",
    )


def test_bandwidths_are_capped_to_grow_inward() -> None:
    cal = _synthetic("cpu", dram_bytes_per_s=80e9)
    # l1d: 150 GB/s on one thread x 2 private units = 300; l2 250 (all threads);
    # l3 60; dram measured 80 > 60, capped at 60
    assert ordered_bandwidths(cal) == (300e9, 250e9, 60e9, 60e9)
    assert "capped at the nearer level's aggregate" in calibration_yaml(cal)


def test_all_threads_cannot_beat_units_times_one_thread() -> None:
    # l3: 2 threads measured 60 GB/s, one thread alone 20 -> at most 2 x 20 = 40
    one = BandwidthResult("l3", 1, 20e9, 15e9, (8 * MIB, 16 * MIB))
    cal = _synthetic("cpu")
    cal = replace(cal, bandwidth=(*cal.bandwidth, one))
    assert ordered_bandwidths(cal) == (300e9, 250e9, 40e9, 20e9)
    assert "capped at 2 x the 1-thread figure" in calibration_yaml(cal)


def test_slope_rate_cancels_a_fixed_cost() -> None:
    """A fake clock, injected: each call costs 1 ms fixed + 1 us per unit of work."""
    clock = [0.0]

    def kernel(work: float, cost_s: float | None = None) -> tuple[Callable[[], None], float]:
        def call() -> None:
            clock[0] += 1e-3 + work * 1e-6 if cost_s is None else cost_s

        return call, work

    how = Effort(batches=3, target_s=0.01, budget_s=1.0, min_batches=3)
    how = replace(how, timer=clock_timer(lambda: clock[0]))
    # slope: (3000 - 1000) / (4 ms - 2 ms) = 1e6 per s; work/time at 3000 only 0.75e6
    assert slope_rate("k", kernel(1000.0), kernel(3000.0), how).best == pytest.approx(1e6)
    # the large size no slower than the small one: noise; fall back to 3000 / 2 ms
    flat = slope_rate("k", kernel(1000.0, 2e-3), kernel(3000.0, 2e-3), how).best
    assert flat == pytest.approx(1.5e6)


def test_contention_is_others_share_of_the_cpu(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    stat = tmp_path / "proc/stat"
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal: 100 busy + 300 idle ticks
    stat.write_text("cpu  60 0 20 300 0 10 5 5 0 0\ncpu0 1 0 0 0 0 0 0 0 0 0\n")
    before = cpu_seconds(tmp_path)
    assert before == (100 / tick, 400 / tick)
    # then 200 more busy ticks and 200 idle: we used 100 ticks ourselves
    stat.write_text("cpu  260 0 20 500 0 10 5 5 0 0\n")
    after = cpu_seconds(tmp_path)
    assert contention(before, after, own_s=100 / tick) == pytest.approx(100 / 400)
    assert contention(None, after, own_s=0.0) is None
    assert cpu_seconds(tmp_path / "missing") is None


def test_synthetic_cpu_yaml_by_hand(tmp_path: Path) -> None:
    spec = _load_text(calibration_yaml(_synthetic("cpu"), name="my host"), tmp_path)
    assert spec.name == "my host"
    assert spec.description.startswith("Test: CPU 1")  # `#` dropped, `:` quoted
    # median of 1e11, 2e11, 4e11 = 2e11 FLOP/s = 2 x macs x 2 units x 2 GHz -> 25 MAC/clk
    assert spec.compute.matrix is not None
    assert spec.compute.matrix.macs_per_cycle["fp32"] == pytest.approx(25.0)
    # median of 8, 6, 1 GFLOP/s = 6e9 = flops x 2 units x 2 GHz -> 1.5 FLOP/clk
    assert spec.compute.vector.flops_per_cycle["fp32"] == pytest.approx(1.5)
    # l2: best of 200 and 250 GB/s over 2 units -> 125 GB/s per unit
    assert spec.memory[1].bandwidth == pytest.approx(125e9)


def test_synthetic_cuda_yaml(tmp_path: Path) -> None:
    cal = _synthetic("cuda")
    text = calibration_yaml(cal, name="gpu")
    spec = _load_text(text, tmp_path)
    assert spec.kind == "gpu" and spec.native_precision == "fp16"
    assert spec.compute.matrix is not None and spec.compute.matrix.type == "tensor_core"
    assert [level.name for level in spec.memory] == ["l3", "dram"]
    for dtype in ("fp32", "tf32", "fp16", "bf16"):
        assert spec.matrix_peak_flops(dtype) == pytest.approx(2e11, rel=1e-6)
    # on a GPU the vector rate is the non-tensor fp32 GEMM's, fp16/bf16 assumed equal
    assert spec.vector_peak_flops("fp16") == pytest.approx(2e11, rel=1e-6)
    for line, note in _number_lines(text):
        assert "measured by perfsim calibrate" in note or "assumed" in note, line


def test_synthetic_cuda_yaml_with_measured_power(tmp_path: Path) -> None:
    """NVML's figures land in the file: whole-core MAC energies, the DRAM byte, the
    baseline as static power, the enforced limit as tdp and the DVFS exponent (the median
    over the throttled MAC actions); every number still says where it came from."""
    from perfsim.calibration.gpu_energy import ActionEnergy, DutyPoint, PowerCalibration

    point = DutyPoint(0.0, 0.0, 125.0, 1.98e9, 1.98e9)
    actions = (
        ActionEnergy("mac.fp16", 2.24e-12, 127.0, 1.98e9, 0.6, (point,)),
        ActionEnergy("mac.bf16", 2.16e-12, 125.0, 1.98e9, 0.8, (point,)),
        ActionEnergy("mac.fp32", 22.3e-12, 123.0, 1.98e9, None, (point,)),
        ActionEnergy("dram.bytes", 81.5e-12, 122.0, 1.98e9, None, (point,)),
    )
    cal = replace(_synthetic("cuda"), power=PowerCalibration(actions, 700.0))
    text = calibration_yaml(cal, name="gpu")
    spec = _load_text(text, tmp_path)
    assert spec.tdp == pytest.approx(700.0)
    assert spec.energy.mac_whole_core
    assert spec.energy.mac["fp16"] == pytest.approx(2.24e-12)
    assert spec.energy.mac["fp32"] == pytest.approx(22.3e-12)
    assert spec.energy.static_power == pytest.approx(124.0)  # median of 127, 125, 123, 122
    assert spec.energy.dvfs_exponent == pytest.approx(0.7)  # median of 0.6 and 0.8
    # the copy's whole-stack byte less the default the nearer level charges it: an SRAM of
    # its capacity, 1.25 pJ/B x sqrt(C / 8 KiB) at 45 nm, scaled to the stated 14 nm
    from perfsim.energy.technology import energy_scale

    nearer = 1.25e-12 * math.sqrt(cal.memory[0].capacity_bytes / 8192) * energy_scale(14e-9)
    assert 0 < nearer < 81.5e-12
    assert spec.memory[-1].energy_per_byte == pytest.approx(81.5e-12 - nearer, rel=1e-3)
    for line, note in _number_lines(text):
        assert "measured by perfsim calibrate" in note or "assumed" in note, line


def test_single_thread_bandwidth_never_grows_outward(tmp_path: Path) -> None:
    # 1 thread: l1d 150, l2 90, l3 95 (noise: faster than l2) -> l3 written as 90 GB/s
    cal = _synthetic("cpu")
    extra = (
        BandwidthResult("l2", 1, 90e9, 80e9, (MIB, 2 * MIB)),
        BandwidthResult("l3", 1, 95e9, 70e9, (16 * MIB, 32 * MIB)),
    )
    text = calibration_yaml(replace(cal, bandwidth=(*cal.bandwidth, *extra)))
    single = _load_text(text, tmp_path).compute.single_thread
    assert single is not None
    assert single.bandwidth == {
        "l1d": pytest.approx(150e9),
        "l2": pytest.approx(90e9),
        "l3": pytest.approx(90e9),
    }
    assert "capped at the nearer level's 90 GB/s" in text
