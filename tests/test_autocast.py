"""Training under torch.autocast's mixed precision ("O1", PyTorch AMP), traced on meta
(`perfsim.trace.autocast`, `perfsim.trace.train_step`).

References: the cast policies of PyTorch's ``aten/src/ATen/autocast_mode.cpp`` (AutocastCUDA:
``linear``/``matmul``/``bmm``/``scaled_dot_product_attention`` to the lower precision;
``layer_norm``/``softmax``/``log_softmax``/``nll_loss`` to fp32; parameters cast once per
region), and hand counts of the casts a BERT pretraining step makes under them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from perfsim.cache import graph_key
from perfsim.cli import main
from perfsim.errors import WorkloadError
from perfsim.hardware import resolve_hardware
from perfsim.ir import OpGraph
from perfsim.pipeline import simulate
from perfsim.scenario import Scenario
from perfsim.trace.autocast import MetaAutocast, policy_of
from perfsim.trace.train_step import trace_training_step
from perfsim.whatif.knobs import parse_whatifs
from perfsim.workload import TrainingOptions, load_workload

F = torch.nn.functional


def test_policies_follow_autocast_mode_cpp() -> None:
    for func in (F.linear, torch.matmul, torch.bmm, F.scaled_dot_product_attention):
        assert policy_of(func) == "lower", func
    for func in (F.layer_norm, F.nll_loss, F.mse_loss, torch.exp):
        assert policy_of(func) == "fp32", func
    for func in (F.softmax, F.log_softmax, torch.sum, torch.Tensor.softmax):
        assert policy_of(func) == "fp32_output", func  # fp32_set_opt_dtype: no cast kernel
    assert policy_of(F.cross_entropy) == "cross_entropy"  # log_softmax + nll_loss
    for func in (F.gelu, F.dropout, torch.add, F.embedding):
        assert policy_of(func) is None, func


def test_casts_on_meta_as_autocast_does() -> None:
    linear = torch.nn.Linear(8, 8, device="meta")
    norm = torch.nn.LayerNorm(8, device="meta")
    x = torch.randn(4, 8, device="meta")
    with MetaAutocast(torch.float16) as mode:
        y = linear(x)
        z = norm(y)
        again = linear(z)  # the same weight: its cached cast
        explicit = F.softmax(again, dim=-1, dtype=torch.float16)  # explicit dtype= wins
    assert (y.dtype, z.dtype, again.dtype) == (torch.float16, torch.float32, torch.float16)
    assert explicit.dtype == torch.float16
    assert len(mode._cache) == 2  # weight and bias, cast once each
    (again.float().sum()).backward()
    assert linear.weight.grad is not None and linear.weight.grad.dtype == torch.float32


def _tiny_step(precision: str, autocast: bool) -> OpGraph:
    """A bert-tiny (2 layers) pretraining step with AdamW, batch 2, seq 16."""
    workload = load_workload(
        "bert-tiny",
        batch=2,
        seq=16,
        mode="training",
        precision=precision,
        training=TrainingOptions(head="pretraining", optimizer="adamw", autocast=autocast),
    )
    return trace_training_step(workload)


@pytest.fixture(scope="module")
def tiny_steps() -> tuple[OpGraph, OpGraph]:
    """bert-tiny pretraining steps in fp16: as O2, and under autocast."""
    return _tiny_step("fp16", False), _tiny_step("fp16", True)


def _casts(graph: OpGraph, phase: str) -> list:
    return [op for op in graph.ops if op.phase == phase and op.target == "aten._to_copy.default"]


def test_forward_casts_by_hand(tiny_steps: tuple[OpGraph, OpGraph]) -> None:
    """Per layer: 6 linears' weight and bias (12 parameter casts); Q, K and V each cast the
    fp32 LayerNorm output; softmax reads the fp16 scores and writes fp32 in one kernel
    (`fp32_set_opt_dtype`, CUDA's half-to-float softmax), the fp32 probabilities are cast
    back to fp16 for P V; the FFN's first linear casts the LayerNorm output (its second
    takes GELU's fp16): 5 activation casts. Heads: pooler, transform, decoder (the tied
    word embeddings) and NSP linears, 8 parameter casts; the pooler's, transform's and
    decoder's fp32 inputs and the transform LayerNorm's fp16 input: 4 activation casts (the
    losses' log_softmax reads the fp16 logits itself)."""
    _, amp = tiny_steps
    layers = 2
    casts = _casts(amp, "forward")
    weights = [op for op in casts if op.inputs[0].role == "weight"]
    assert len(weights) == 12 * layers + 8
    assert len(casts) - len(weights) == 5 * layers + 4
    half_to_float = [
        op
        for op in amp.ops
        if op.phase == "forward"
        and op.target in ("aten._softmax.default", "aten._log_softmax.default")
    ]
    assert half_to_float and all(
        (op.inputs[0].dtype, op.outputs[0].dtype) == ("fp16", "fp32") for op in half_to_float
    )
    assert all(op.inputs[0].dtype == "fp32" and op.outputs[0].dtype == "fp16" for op in weights)


def test_matrix_ops_half_norms_and_softmax_fp32(tiny_steps: tuple[OpGraph, OpGraph]) -> None:
    _, amp = tiny_steps
    forward = [op for op in amp.ops if op.phase == "forward"]
    assert all(
        t.dtype == "fp16"
        for op in forward
        if op.category.is_matrix
        for t in op.inputs
        if t.dtype != "int64"
    )
    for kind in ("native_layer_norm", "_softmax"):
        ops = [op for op in forward if kind in op.target]
        assert ops and all(op.outputs[0].dtype == "fp32" for op in ops), kind


def test_fp32_weights_gradients_and_no_masters(tiny_steps: tuple[OpGraph, OpGraph]) -> None:
    o2, amp = tiny_steps
    params = amp.meta.trainable_params
    assert params is not None and amp.meta.memory is not None and o2.meta.memory is not None
    # every gradient finalized in fp32 (the parameters are fp32)
    assert amp.meta.grad_ready is not None
    assert {dtype for _, _, dtype in amp.meta.grad_ready} == {"fp32"}
    # bert-tiny's parameters, all trainable: fp32 weights and gradients, AdamW's two fp32
    # moments and nothing else (O2 adds its fp32 masters and keeps half weights)
    assert amp.meta.memory["weights"] == 4 * params
    assert amp.meta.memory["gradients"] == 4 * params
    assert amp.meta.memory["optimizer_state"] == 8 * params
    assert o2.meta.memory["optimizer_state"] == 12 * params
    assert amp.meta.autocast is True and o2.meta.autocast is None
    # backward casts each parameter's half gradient back to fp32
    assert len(_casts(amp, "backward")) >= 12 * 2 + 8


def test_fp16_gradients_unscaled_once_bf16_not(tiny_steps: tuple[OpGraph, OpGraph]) -> None:
    """GradScaler unscales each fp16-autocast gradient once (one multiply each); bf16
    autocast runs without a scaler, so its optimizer phase has exactly that many fewer."""
    _, amp = tiny_steps
    bf16 = _tiny_step("bf16", True)

    def multiplies(graph: OpGraph) -> int:
        return sum(op.phase == "optimizer" and op.target == "aten.mul_.Tensor" for op in graph.ops)

    assert amp.meta.grad_ready is not None
    assert multiplies(amp) - multiplies(bf16) == len(amp.meta.grad_ready)
    matrix = [t for op in bf16.ops if op.category.is_matrix for t in op.inputs]
    assert {t.dtype for t in matrix if t.dtype != "int64"} <= {"bf16", "fp32"}


def test_cache_key_and_summary_name_autocast() -> None:
    def workload(autocast: bool):
        return load_workload(
            "bert-tiny",
            mode="training",
            precision="fp16",
            training=TrainingOptions(autocast=autocast),
        )

    assert graph_key(workload(True)) != graph_key(workload(False))


@pytest.mark.parametrize(
    "args",
    [
        ("--autocast",),  # inference
        ("--mode", "training", "-p", "fp32", "--autocast"),
    ],
)
def test_cli_rejects_autocast_outside_mixed_training(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["run", "-m", "bert-tiny", "--hw", "a100", *args])
    out, err = capsys.readouterr()
    assert done.value.code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "--autocast" in err


def test_workload_rejects_autocast_in_inference() -> None:
    with pytest.raises(WorkloadError, match="--autocast"):
        load_workload("bert-tiny", precision="fp16", training=TrainingOptions(autocast=True))


def test_run_names_autocast_in_its_title_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "-m", "bert-tiny", "--hw", "h200", "--mode", "training", "-p", "fp16"]
    with pytest.raises(SystemExit) as done:
        main([*argv, "--autocast", "--no-cache"])
    out, _ = capsys.readouterr()
    assert done.value.code == 0 and "fp16 autocast, training" in out.splitlines()[0]
    with pytest.raises(SystemExit):
        main([*argv, "--autocast", "--no-cache", "-f", "json"])
    assert '"autocast": true' in capsys.readouterr().out


def test_masked_lm_gather_under_autocast() -> None:
    """The autocast casts of a weight stay weights (role), so `mlm_positions` finds the
    decoder GEMM and its input gradient (the cast back to fp32) as in an O2 step."""
    hw = resolve_hardware("tpu-v3")
    dims = {}
    for autocast in (False, True):
        scenario = Scenario(
            "bert-tiny",
            batch=2,
            seq=32,
            mode="training",
            precision="bf16",
            training=TrainingOptions(autocast=autocast),
            whatifs=parse_whatifs({"mlm_positions": 5}),
        )
        graph = simulate(scenario, hw).graph
        decoder = [
            op for op in graph.ops if op.scope.endswith(".decoder") and op.category.is_matrix
        ]
        dims[autocast] = [(op.phase, dict(op.dims)) for op in decoder]
        assert [op.target for op in graph.ops if "index_" in op.name] == [
            "aten.index_select.default",
            "aten.index_add.default",
        ]
    # 2 sequences x 5 positions = 10 rows through the decoder, forward and backward
    assert dims[True] == dims[False]
    assert dims[True][0] == ("forward", {"b": 1, "m": 10, "n": 30522, "k": 128})


def test_checkpointed_autocast_step_runs_quietly(tmp_path: Path) -> None:
    """Checkpointing under autocast traces (the recompute gets the autocast mode too), and
    transformers' use_cache warning no longer reaches stderr."""
    import subprocess
    import sys

    done = subprocess.run(
        [
            *(sys.executable, "-m", "perfsim", "run", "-m", "bert-tiny", "--hw", "a100"),
            *("--mode", "training", "-p", "fp16", "--autocast", "--checkpointing"),
            *("--cache-dir", str(tmp_path), "-f", "json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert '"autocast": true' in done.stdout


def test_half_to_float_softmax_is_one_kernel_as_on_cuda() -> None:
    """ATen's CUDA softmax / log_softmax take fp16 in and write fp32 in one kernel when
    asked for dtype=float32 (SoftMax.cpp); meta would convert first."""
    from torch.utils._python_dispatch import TorchDispatchMode

    from perfsim.trace.softmax import HalfToFloatSoftmaxMode

    class Ops(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.seen.append(str(func))
            return func(*args, **(kwargs or {}))

    half = torch.randn(4, 8, device="meta", dtype=torch.float16)
    bf16 = half.to(torch.bfloat16)
    with HalfToFloatSoftmaxMode():
        with Ops() as fused:
            out = F.softmax(half, dim=-1, dtype=torch.float32)
            F.log_softmax(half, dim=1, dtype=torch.float32)
        with Ops() as untouched:
            F.softmax(half, dim=-1)  # no dtype: fp16 softmax
            F.softmax(bf16, dim=-1, dtype=torch.float32)  # no bf16 fast path on CUDA
    assert out.dtype == torch.float32
    assert fused.seen == ["aten._softmax.default", "aten._log_softmax.default"]
    assert untouched.seen == [
        "aten._softmax.default",
        "aten._to_copy.default",
        "aten._softmax.default",
    ]
