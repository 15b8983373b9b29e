"""``perfsim run --whatif KEY=VALUE``, ``--seq-lengths`` and ``--padding``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from perfsim.cli import main


@pytest.fixture
def perfsim(
    capsys: pytest.CaptureFixture[str], graph_cache: Path
) -> Callable[..., tuple[int, str, str]]:
    """``perfsim("run", ...)`` -> (exit status, stdout, stderr), on the session's cache."""

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        argv = [str(arg) for arg in args] + ["--cache-dir", str(graph_cache)]
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(argv)
        out, err = capsys.readouterr()
        code = done.value.code
        return (code if isinstance(code, int) else 1), out, err

    return invoke


RUN = ("run", "-m", "bert-tiny", "--hw", "npu", "-b", "2", "-s", "16", "-f", "json")


def test_whatif_options_reach_the_summary(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim(*RUN)
    assert (code, err) == (0, "")
    base = json.loads(out)
    assert base["whatifs"] == {}
    code, out, err = perfsim(*RUN, "--whatif", "fusion=all", "--whatif", "instances=2")
    assert (code, err) == (0, "")
    summary = json.loads(out)
    assert summary["whatifs"] == {
        "fusion": "epilogue+softmax+layernorm+attention+optimizer+qkv+residual",
        "instances": 2,
    }
    assert summary["flops"] == base["flops"]
    assert summary["memory_traffic_bytes"]["hbm"] < base["memory_traffic_bytes"]["hbm"]


def test_seq_lengths_packed_vs_padded(
    perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    lengths = tmp_path / "lengths.txt"
    lengths.write_text("8\n16\n16\n40\n")
    results = {}
    for padding in ("padded", "packed"):
        code, out, err = perfsim(
            "run", "-m", "bert-tiny", "--hw", "npu", "-f", "json",
            "--seq-lengths", lengths, "--padding", padding,
        )  # fmt: skip
        assert (code, err) == (0, "")
        results[padding] = json.loads(out)
    padded, packed = results["padded"], results["packed"]
    assert padded["seq_lengths"]["padded_to"] == 40  # the longest: --seq was not given
    assert padded["batch"] == packed["batch"] == 4
    assert packed["flops"] < padded["flops"]
    assert packed["latency_s"] < padded["latency_s"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--whatif", "fusoin=all"), "WhatIfError: --whatif: whatif.fusoin: unknown knob"),
        (("--whatif", "quant=int3"), "WhatIfError: --whatif: whatif.quant: expected one of"),
        (("--whatif", "fusion"), "WhatIfError: --whatif: expected KEY=VALUE"),
        (("--seq-lengths", "uniform:9-3"), "LengthsError: --seq-lengths: cannot read"),
        (("--seq-lengths", "uniform:9-40", "--seq", "12"), "LengthsError: --seq: cannot pad"),
        (("--seq-lengths", "uniform:600-700"), "LengthsError: --seq-lengths: a sequence of"),
    ],
)
def test_bad_knobs_exit_2_with_one_line(
    perfsim: Callable[..., tuple[int, str, str]], args: tuple[str, ...], message: str
) -> None:
    code, out, err = perfsim("run", "-m", "bert-tiny", "--hw", "npu", *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(message)
