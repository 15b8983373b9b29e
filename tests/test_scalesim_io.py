"""SCALE-Sim interoperability: .cfg files as hardware, topology CSVs as workloads."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from perfsim.cli import main
from perfsim.errors import SpecError, WorkloadError
from perfsim.hardware import resolve_hardware
from perfsim.hardware.scalesim import load_scalesim_config
from perfsim.layers import parse_topology

DATA = Path(__file__).resolve().parent / "data"
CFG = DATA / "scalesim_32x32_os.cfg"


def test_cfg_maps_array_buffers_and_bandwidth() -> None:
    hw = load_scalesim_config(CFG)
    matrix = hw.compute.matrix
    assert (matrix.rows, matrix.cols, matrix.dataflow) == (32, 32, "os")
    # 64 KB each, one-byte words
    assert (matrix.buffers.ifmap, matrix.buffers.filter, matrix.buffers.ofmap) == (65536,) * 3
    # USER mode, Bandwidth 10 words/cycle per port, 3 ports, at the assumed 1 GHz = 30 GB/s
    assert hw.dram.bandwidth == pytest.approx(30e9)
    assert hw.matrix_peak_flops("int8") == pytest.approx(2 * 32 * 32 * 1e9)
    assert resolve_hardware(str(CFG)) == hw


def test_cfg_errors_name_section_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.cfg"
    bad.write_text(CFG.read_text().replace("ArrayHeight:    32", "ArrayHeight:    0"))
    with pytest.raises(
        SpecError, match=r"bad\.cfg: architecture_presets\.ArrayHeight: expected a positive"
    ):
        load_scalesim_config(bad)
    bad.write_text(CFG.read_text().replace("Dataflow : os", "Dataflow : xs"))
    with pytest.raises(SpecError, match=r"architecture_presets\.Dataflow: expected os, ws or is"):
        load_scalesim_config(bad)
    bad.write_text(CFG.read_text().replace("Bandwidth : 10\n", ""))
    with pytest.raises(SpecError, match=r"architecture_presets\.Bandwidth: missing"):
        load_scalesim_config(bad)
    with pytest.raises(SpecError, match="file not found"):
        load_scalesim_config(tmp_path / "missing.cfg")


def test_gemm_and_conv_topologies() -> None:
    gemms = parse_topology(DATA / "bert_gemms.csv")
    assert gemms[0] == ("query", 128, 768, 768, 128 * 768)
    assert len(gemms) == 8
    conv = parse_topology(DATA / "conv_layers.csv")
    # Conv1: 224x224x3 ifmap, 7x7 filter, stride 2: ((224-7)//2+1)^2 = 109^2 = 11,881 pixels,
    # K = 7*7*3 = 147, N = 64 filters
    assert conv[0] == ("Conv1", 11881, 64, 147, 224 * 224 * 3)
    # DP1 is depthwise over 4 channels: 4 single-channel GEMMs of (56-3+1)^2 = 2916 pixels
    assert [layer[0] for layer in conv[1:]] == [f"DP1Channel_{c}" for c in range(4)]
    assert conv[1][1:4] == (2916, 1, 9)


def test_bad_topology_rows(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("Layer, M, N, K,\nq, 128, zero, 768,\n")
    with pytest.raises(
        WorkloadError, match=r"bad\.csv: line 2, column 3: expected a positive integer"
    ):
        parse_topology(bad)
    bad.write_text("Layer, M, N, K,\nq, 128,\n")
    with pytest.raises(WorkloadError, match="line 2: expected 'name, M, N, K,'"):
        parse_topology(bad)


@pytest.mark.parametrize("engine", ["roofline", "cycle"])
def test_cli_runs_a_scalesim_pair(engine: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "run",
        "--model",
        str(DATA / "bert_gemms.csv"),
        "--hw",
        str(CFG),
        "--engine",
        engine,
        "--format",
        "csv",
    ]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["op"]) == [layer[0] for layer in parse_topology(DATA / "bert_gemms.csv")]
    # q: 128 x 768 x 768 MACs
    assert frame.loc[0, "macs"] == 128 * 768 * 768
    if engine == "cycle":
        for column in (
            "total_cycles",
            "stall_cycles",
            "overall_utilization",
            "mapping_efficiency",
            "compute_utilization",
            "sram_ifmap_reads",
            "sram_filter_reads",
            "sram_ofmap_writes",
            "dram_ifmap_reads",
            "dram_filter_reads",
            "dram_ofmap_writes",
        ):
            assert column in frame.columns
        assert (frame["total_cycles"] >= frame["compute_cycles"]).all()
