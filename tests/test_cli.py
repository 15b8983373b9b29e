"""The ``perfsim`` command, driven in-process through `perfsim.cli.main`.

Each run passes ``--cache-dir`` (the session's `graph_cache`), and ``XDG_CACHE_HOME`` points
into the session's temporary folder, so no test reads or writes the user's cache.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from perfsim.cli import main
from perfsim.hardware import available_hardware, load_hardware
from perfsim.precision import PRECISIONS

ROOT = Path(__file__).resolve().parent.parent
NPU = ROOT / "hwconfigs" / "npu.yaml"
SUMMARY_KEYS = {
    "model",
    "hw",
    "batch",
    "seq",
    "precision",
    "mode",
    "engine",
    "latency_s",
    "throughput_samples_per_s",
    "flops",
    "params",
    "memory_traffic_bytes",
    "energy_j",
    "energy_breakdown_j",
    "by_category",
    "n_ops",
}
CATEGORY_KEYS = {"latency_s", "share", "flops", "bytes", "energy_j"}


@pytest.fixture(scope="session")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("xdg-cache")


@pytest.fixture(autouse=True)
def _private_cache_home(cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `list models` caches parameter counts under $XDG_CACHE_HOME/perfsim
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))


@pytest.fixture
def perfsim(
    capsys: pytest.CaptureFixture[str], graph_cache: Path
) -> Callable[..., tuple[int, str, str]]:
    """``perfsim("run", "--model", ...)`` → (exit status, stdout, stderr)."""

    def invoke(*args: str | Path) -> tuple[int, str, str]:
        argv = [str(arg) for arg in args]
        if argv[0] in ("run", "trace"):
            argv += ["--cache-dir", str(graph_cache)]
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            main(argv)
        out, err = capsys.readouterr()
        code = done.value.code
        return (code if isinstance(code, int) else 1), out, err

    return invoke


def _json(out: str) -> Any:
    return json.loads(out)  # the whole of stdout is one JSON document


# ---- run ------------------------------------------------------------------------------


def test_run_table(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("run", "--model", "bert-tiny", "--hw", "npu")
    assert (code, err) == (0, "")
    assert "bert-tiny on npu" in out
    for label in ("latency", "throughput", "FLOPs", "energy", "memory traffic"):
        assert re.search(rf"^\s*{label}\s+\S", out, re.MULTILINE), label
    assert "by category" in out
    for category in ("gemm", "attn_gemm", "softmax", "layernorm", "gelu"):
        assert re.search(rf"│ {category}\s+│", out), category


@pytest.fixture
def tiny_int8(perfsim: Callable[..., tuple[int, str, str]]) -> dict[str, Any]:
    """The json summary of bert-tiny, batch 4, seq 64, int8 on npu."""
    code, out, err = perfsim(
        "run", "-m", "bert-tiny", "--hw", "npu", "-b", "4", "-s", "64", "-p", "int8", "-f", "json"
    )
    assert (code, err) == (0, "")
    summary: dict[str, Any] = _json(out)
    return summary


def test_run_json(tiny_int8: dict[str, Any]) -> None:
    summary = tiny_int8
    assert summary.keys() >= SUMMARY_KEYS
    assert summary["model"] == "bert-tiny"
    assert summary["hw"] == "npu"
    assert (summary["batch"], summary["seq"], summary["precision"]) == (4, 64, "int8")
    assert (summary["mode"], summary["engine"]) == ("inference", "roofline")
    assert summary["params"] == 4_385_920  # as `perfsim list models`
    assert summary["latency_s"] > 0
    assert summary["throughput_samples_per_s"] == pytest.approx(4 / summary["latency_s"])
    assert summary["flops"] > 0
    assert isinstance(summary["n_ops"], int) and summary["n_ops"] > 0

    levels = [level.name for level in load_hardware(NPU).memory]
    assert list(summary["memory_traffic_bytes"]) == levels  # vmem, hbm
    assert all(value > 0 for value in summary["memory_traffic_bytes"].values())

    breakdown = summary["energy_breakdown_j"]
    assert set(breakdown) == {"compute", *levels, "static"}
    assert sum(breakdown.values()) == pytest.approx(summary["energy_j"], rel=1e-9)

    categories = summary["by_category"]
    assert {"gemm", "attn_gemm", "softmax", "layernorm"} <= categories.keys()
    for name, row in categories.items():
        assert row.keys() >= CATEGORY_KEYS, name
    assert sum(row["share"] for row in categories.values()) == pytest.approx(1.0)
    assert sum(row["latency_s"] for row in categories.values()) == pytest.approx(
        summary["latency_s"]
    )
    assert sum(row["flops"] for row in categories.values()) == summary["flops"]
    assert sum(row["energy_j"] for row in categories.values()) == pytest.approx(summary["energy_j"])


def test_run_defaults_to_native_precision(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("run", "-m", "bert-tiny", "--hw", "npu", "-f", "json")
    assert code == 0
    summary = _json(out)
    assert (summary["batch"], summary["seq"], summary["precision"]) == (1, 128, "bf16")


def test_run_csv(perfsim: Callable[..., tuple[int, str, str]], tiny_int8: dict[str, Any]) -> None:
    code, out, err = perfsim(
        "run", "-m", "bert-tiny", "--hw", "npu", "-b", "4", "-s", "64", "-p", "int8", "-f", "csv"
    )
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == tiny_int8["n_ops"]
    assert {"op", "category", "flops", "latency_s", "energy_j", "vmem_bytes", "hbm_bytes"} <= set(
        rows[0]
    )
    assert sum(float(row["latency_s"]) for row in rows) == pytest.approx(tiny_int8["latency_s"])
    assert sum(int(row["flops"]) for row in rows) == tiny_int8["flops"]


def test_run_out_writes_three_files(
    perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    out_dir = tmp_path / "out" / "nested"  # parents are created
    code, out, err = perfsim(
        "run", "-m", "bert-tiny", "--hw", "npu", "-b", "4", "-s", "64", "-p", "int8",
        "-f", "json", "--out", out_dir,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert sorted(path.name for path in out_dir.iterdir()) == [
        "ops.csv",
        "report.html",
        "summary.json",
    ]
    summary = _json(out)
    assert json.loads((out_dir / "summary.json").read_text(encoding="utf-8")) == summary
    with (out_dir / "ops.csv").open(encoding="utf-8", newline="") as stream:
        assert len(list(csv.DictReader(stream))) == summary["n_ops"]
    html = (out_dir / "report.html").read_text(encoding="utf-8")
    assert "plotly" in html.lower()
    assert "bert-tiny" in html


def test_run_out_with_table_says_where(
    perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    code, out, _ = perfsim("run", "-m", "bert-tiny", "--hw", "npu", "--out", tmp_path / "o")
    assert code == 0
    assert "ops.csv" in out
    assert (tmp_path / "o" / "report.html").is_file()


def test_run_hw_file_path(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("run", "-m", "bert-tiny", "--hw", NPU, "-f", "json")
    assert code == 0
    assert _json(out)["hw"] == "npu"


# ---- help, list, trace ----------------------------------------------------------------


def test_python_dash_m_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "perfsim", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    for command in ("run", "trace", "list"):
        assert re.search(rf"^\s+{command}\b", done.stdout, re.MULTILINE), command


def test_run_help(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("run", "--help")
    assert code == 0
    for option in ("--model", "--hw", "--batch", "--seq", "--precision", "--format", "--out"):
        assert option in out


def test_list_models(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("list", "models")
    assert (code, err) == (0, "")
    header = next(line for line in out.splitlines() if "name" in line)
    for column in ("name", "layers", "hidden", "heads", "params"):
        assert column in header
    bert_base = next(line for line in out.splitlines() if re.search(r"\bbert-base\b", line))
    assert "109482240" in bert_base


def test_list_models_json(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("list", "models", "--format", "json")
    assert code == 0
    models = {record["name"]: record for record in _json(out)}
    # BERT-base: embeddings 30522*768 + 512*768 + 2*768 + 2*768 = 23_837_184,
    # 12 layers x 7_087_872, pooler 768*768 + 768 = 590_592 → 109_482_240
    assert models["bert-base"]["params"] == 109_482_240
    assert models["bert-tiny"]["params"] == 4_385_920
    assert (models["bert-base"]["layers"], models["bert-base"]["hidden"]) == (12, 768)


def test_list_hw(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("list", "hw")
    assert (code, err) == (0, "")
    header = next(line for line in out.splitlines() if "name" in line)
    for column in ("name", "kind"):
        assert column in header
    assert re.search(r"│ npu\s+│ npu\s+│", out)


def test_list_hw_shows_whole_names(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("list", "hw")
    assert code == 0
    missing = [name for name in available_hardware() if not re.search(rf"│ {name}\s+│", out)]
    assert missing == []


def test_list_hw_csv(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("list", "hw", "--format", "csv")
    assert code == 0
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(out))}
    assert set(rows) == set(available_hardware())
    assert float(rows["npu"]["bf16_tflops"]) == pytest.approx(137.63)  # 2*16384*4*1.05e9


def test_trace_json(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("trace", "-m", "bert-tiny", "--format", "json")
    assert (code, err) == (0, "")
    graph = _json(out)
    assert graph["meta"]["model"] == "bert-tiny"
    assert (graph["meta"]["batch"], graph["meta"]["seq"]) == (1, 128)
    assert len(graph["ops"]) > 0
    categories = {op["category"] for op in graph["ops"]}
    assert {"gemm", "attn_gemm", "softmax", "layernorm"} <= categories


def test_trace_csv_and_table(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    _, out, _ = perfsim("trace", "-m", "bert-tiny", "--format", "json")
    n_ops = len(_json(out)["ops"])

    code, out, err = perfsim("trace", "-m", "bert-tiny", "--format", "csv")
    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == n_ops
    assert {"op", "category", "inputs", "outputs", "flops"} <= set(rows[0])

    code, out, err = perfsim("trace", "-m", "bert-tiny", "--format", "table")
    assert (code, err) == (0, "")
    assert f"bert-tiny: {n_ops} ops" in out
    assert "gemm" in out


# ---- bad input: exit 2, one line `SomeError: ...`, no partial output --------------------


def _write(name: str, text: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    return make


def _npu_with(old: str, new: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        text = NPU.read_text(encoding="utf-8")
        assert text.count(old) == 1
        path = folder / "npu-bad.yaml"
        path.write_text(text.replace(old, new), encoding="utf-8")
        return path

    return make


def _path(name: str) -> Callable[[Path], Path]:
    return lambda folder: folder / name


# (id, --model, --hw, extra options, error type, substrings of the message);
# a callable builds a file in tmp_path and returns its path ({path} in a substring)
BAD_INPUTS: list[Any] = [
    ("unknown-model", "bert-tinny", "npu", [], "WorkloadError", ["bert-tinny", "bert-tiny"]),
    ("unknown-hw", "bert-tiny", "nup", [], "SpecError", ["--hw", "'nup'", "did you mean npu"]),
    (
        "missing-hw-file",
        "bert-tiny",
        _path("nowhere.yaml"),
        [],
        "SpecError",
        ["{path}", "file not found"],
    ),
    (
        "malformed-hw-yaml",
        "bert-tiny",
        _write("broken.yaml", "version: 1\nname: [npu\n"),
        [],
        "SpecError",
        ["{path}", "malformed YAML"],
    ),
    (
        "hw-schema-violation",
        "bert-tiny",
        _npu_with('bandwidth: "614 GB/s"', 'bandwidth: "614 GB"'),
        [],
        "SpecError",
        ["{path}", "memory[1].bandwidth", "614 GB"],
    ),
    ("batch-0", "bert-tiny", "npu", ["--batch", "0"], "WorkloadError", ["--batch", "0"]),
    ("batch-negative", "bert-tiny", "npu", ["--batch", "-1"], "WorkloadError", ["--batch", "-1"]),
    ("seq-0", "bert-tiny", "npu", ["--seq", "0"], "WorkloadError", ["--seq", "0"]),
    (
        "seq-too-long",
        "bert-tiny",
        "npu",
        ["--seq", "1000"],
        "WorkloadError",
        ["--seq", "1000", "512"],
    ),
    (
        "precision-unsupported",
        "bert-tiny",
        "npu",
        ["--precision", "int4"],
        "UnsupportedPrecisionError",
        ["int4", "npu.yaml", "bf16"],
    ),
    (
        "precision-not-a-choice",
        "bert-tiny",
        "npu",
        ["--precision", "fp64"],
        "UsageError",
        ["--precision", "fp64"],
    ),
    ("batch-not-int", "bert-tiny", "npu", ["--batch", "two"], "UsageError", ["--batch", "two"]),
    (
        "missing-config-json",
        _path("absent/config.json"),
        "npu",
        [],
        "WorkloadError",
        ["{path}", "file not found"],
    ),
    (
        "malformed-config-json",
        _write("config.json", '{"model_type": "bert", "hidden_size": 64'),
        "npu",
        [],
        "WorkloadError",
        ["{path}", "malformed JSON"],
    ),
    (
        "config-json-without-model-type",
        _write("config.json", '{"hidden_size": 64, "max_position_embeddings": 128}'),
        "npu",
        [],
        "WorkloadError",
        ["{path}", "model_type"],
    ),
]


@pytest.mark.parametrize(
    ("model", "hw", "options", "error", "needles"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_INPUTS],
)
def test_bad_input(
    perfsim: Callable[..., tuple[int, str, str]],
    tmp_path: Path,
    model: str | Callable[[Path], Path],
    hw: str | Callable[[Path], Path],
    options: list[str],
    error: str,
    needles: list[str],
) -> None:
    made = [arg(tmp_path) if callable(arg) else arg for arg in (model, hw)]
    file = next((str(arg) for arg in made if isinstance(arg, Path)), "")
    out_dir = tmp_path / "out"
    code, out, err = perfsim("run", "--model", made[0], "--hw", made[1], *options, "--out", out_dir)
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{error}: "), lines[0]
    for needle in needles:
        assert needle.format(path=file) in lines[0]
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_bad_trace_input(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, err = perfsim("trace", "-m", "bert-tiny", "--seq", "0")
    assert (code, out) == (2, "")
    assert err.startswith("WorkloadError: --seq") and len(err.splitlines()) == 1


def test_unknown_command(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, _, err = perfsim("simulate")
    assert code == 2
    assert err.startswith("UsageError: ") and len(err.splitlines()) == 1


# ---- Hugging Face config.json ---------------------------------------------------------

# small configs of three families; max_position_embeddings 128 in each
HF_CONFIGS = {
    "bert": {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
    },
    "deberta-v2": {
        "model_type": "deberta-v2",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
        "type_vocab_size": 0,
        "hidden_act": "gelu",
        "relative_attention": True,
        "position_buckets": 32,
        "max_relative_positions": -1,
        "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": False,
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "pad_token_id": 0,
    },
    "distilbert": {
        "model_type": "distilbert",
        "dim": 64,
        "n_layers": 2,
        "n_heads": 2,
        "hidden_dim": 128,
        "vocab_size": 1000,
        "max_position_embeddings": 128,
        "activation": "gelu",
    },
}


def _hf_summary(
    perfsim: Callable[..., tuple[int, str, str]], folder: Path, family: str
) -> dict[str, Any]:
    path = folder / f"tiny-{family}" / "config.json"
    path.parent.mkdir()
    path.write_text(json.dumps(HF_CONFIGS[family]), encoding="utf-8")
    code, out, err = perfsim("run", "-m", path, "--hw", "npu", "--seq", "64", "-f", "json")
    assert (code, err) == (0, "")
    summary: dict[str, Any] = _json(out)
    assert summary["model"] == f"tiny-{family}"  # a config.json is named by its folder
    assert summary["seq"] == 64
    assert {"gemm", "attn_gemm", "softmax", "layernorm"} <= summary["by_category"].keys()
    assert summary["unsupported_ops"] == {}
    return summary


def test_hf_bert_config(perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    summary = _hf_summary(perfsim, tmp_path, "bert")
    # embeddings 1000*64 + 128*64 + 2*64 + LN 2*64 = 72_448
    # per layer: QKV 3*(64*64+64) + out 64*64+64 + LN 128 + FFN 64*128+128 + 128*64+64
    #   + LN 128 = 33_472; x2 = 66_944; pooler 64*64+64 = 4_160 → 143_552
    assert summary["params"] == 143_552
    # gemm FLOPs, s = 64: per layer QKV 3*2*64*64*64 + out 2*64*64*64 + FFN 2*(2*64*64*128)
    #   = 4_194_304; x2 = 8_388_608; pooler (CLS token only) 2*64*64 = 8_192 → 8_396_800
    assert summary["by_category"]["gemm"]["flops"] == 8_396_800
    # attention: QK^T and AV, 2*heads*s*s*d_head = 2*2*64*64*32 = 524_288 each, x2 layers
    assert summary["by_category"]["attn_gemm"]["flops"] == 2_097_152


def test_hf_bert_config_seq_beyond_positions(
    perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(HF_CONFIGS["bert"]), encoding="utf-8")
    code, _, err = perfsim("run", "-m", path, "--hw", "npu", "--seq", "129")
    assert code == 2
    assert err.startswith("WorkloadError: --seq: 129") and "128" in err


def test_hf_distilbert_config(perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    summary = _hf_summary(perfsim, tmp_path, "distilbert")
    # embeddings 1000*64 + 128*64 + LN 128 = 72_320; per layer as BERT's 33_472; no pooler
    assert summary["params"] == 72_320 + 2 * 33_472
    assert summary["by_category"]["attn_gemm"]["flops"] == 2_097_152


def test_hf_deberta_v2_config(perfsim: Callable[..., tuple[int, str, str]], tmp_path: Path) -> None:
    import torch
    import transformers
    from torch.utils.flop_counter import FlopCounterMode

    summary = _hf_summary(perfsim, tmp_path, "deberta-v2")
    # the reference: FlopCounterMode over Hugging Face's own DeBERTa-v2 built from the same
    # config.json, run on the CLI's batch and sequence (random weights, real tensors)
    config = transformers.AutoConfig.for_model(**HF_CONFIGS["deberta-v2"])
    torch.manual_seed(0)
    model = transformers.AutoModel.from_config(config).eval()
    ids = torch.randint(1, 1000, (summary["batch"], summary["seq"]))
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(input_ids=ids)
    counts = counter.get_flop_counts()["Global"]
    by_name = {str(op).split(".")[1]: int(flops) for op, flops in counts.items()}
    # the linear layers (Q, K, V, output, FFN; the relative-position projections reuse Q
    # and K, share_att_key) are addmm; attention's content and c2p / p2c position products
    # are bmm
    assert summary["by_category"]["gemm"]["flops"] == by_name.pop("addmm")
    assert summary["by_category"]["attn_gemm"]["flops"] == by_name.pop("bmm")
    assert by_name == {}  # no other matrix kernel that perfsim could have missed


def test_precisions_are_the_cli_choices(perfsim: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = perfsim("run", "--help")
    assert code == 0
    for precision in PRECISIONS:
        assert precision in out
