"""The torch calls that get timed, each built once with its tensors and returned as a thunk.

Every call writes into a preallocated output (``out=``), so timing sees the kernel and
the dispatch, not the allocator, and inputs never change, so no value drifts to inf or
denormal over thousands of repetitions.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Final

from perfsim.calibration.record import Shape
from perfsim.calibration.timing import Call

if TYPE_CHECKING:
    import torch

VECTOR_OPS: Final = ("add", "mul", "exp")
COPY_BYTES: Final = 8  # per fp32 element: read src, write dst
TRIAD_BYTES: Final = 12  # per fp32 element: read b, read c, write a


def torch_dtype(name: str) -> torch.dtype:
    """perfsim dtype name → torch dtype (tf32 is fp32 storage; the matmul mode decides)."""
    import torch

    table = {"fp32": torch.float32, "tf32": torch.float32}
    table |= {"fp16": torch.float16, "bf16": torch.bfloat16}
    return table[name]


def gemm_call(dtype: str, shape: Shape, device: str = "cpu") -> Call:
    """One ``x @ W^T`` as ``nn.Linear`` computes it (W stored (n, k)): 2*m*n*k FLOPs.

    int8 runs ``torch._int_mm`` (int8 inputs, int32 output).
    """
    import torch

    m, n, k = shape
    if dtype == "int8":
        a = torch.randint(-8, 8, (m, k), dtype=torch.int8, device=device)
        w = torch.randint(-8, 8, (n, k), dtype=torch.int8, device=device)
        out = torch.empty(m, n, dtype=torch.int32, device=device)
        return partial(torch._int_mm, a, w.t(), out=out)
    kind = torch_dtype(dtype)
    a = torch.randn(m, k, device=device).to(kind)
    w = torch.randn(n, k, device=device).to(kind)
    return partial(torch.mm, a, w.t(), out=torch.empty(m, n, dtype=kind, device=device))


def vector_call(op: str, dtype: str, elements: int, device: str = "cpu") -> Call:
    """One out-of-place ``add``, ``mul`` or ``exp`` over ``elements`` values: 1 FLOP each."""
    import torch

    kind = torch_dtype(dtype)
    a = torch.rand(elements, device=device).to(kind)
    b = torch.rand(elements, device=device).to(kind)
    out = torch.empty(elements, dtype=kind, device=device)
    if op == "exp":
        return partial(torch.exp, a, out=out)
    return partial(torch.add if op == "add" else torch.mul, a, b, out=out)


# the kinds of vector op whose element cost a calibration measures (`element_call`)
ELEMENT_KINDS: Final = ("gelu", "gelu_tanh", "softmax", "layer_norm", "exp", "erf", "tanh")
ROW: Final = 512  # softmax and layer-norm row length: a BERT score row, a hidden vector


def element_call(kind: str, elements: int, device: str = "cpu") -> Call:
    """One fp32 op of ``kind`` (`ELEMENT_KINDS`) over ``elements`` values into a
    preallocated output; softmax and layer norm over rows of `ROW` (``elements`` a
    multiple of it)."""
    import torch

    aten = torch.ops.aten
    x = torch.rand(elements, device=device) * 4 - 2
    out = torch.empty(elements, device=device)
    if kind in ("gelu", "gelu_tanh"):
        approximate = "tanh" if kind == "gelu_tanh" else "none"
        return partial(aten.gelu.out, x, approximate=approximate, out=out)
    if kind in ("exp", "erf", "tanh"):
        return partial(getattr(torch, kind), x, out=out)
    rows = x.view(-1, ROW)
    if kind == "softmax":
        return partial(aten._softmax.out, rows, -1, False, out=out.view(-1, ROW))
    weight, bias = torch.ones(ROW, device=device), torch.zeros(ROW, device=device)
    stats = [torch.empty(rows.shape[0], 1, device=device) for _ in range(2)]
    return partial(
        aten.native_layer_norm.out,
        rows,
        [ROW],
        weight,
        bias,
        1e-12,
        out0=out.view(-1, ROW),
        out1=stats[0],
        out2=stats[1],
    )


def copy_call(working_set_bytes: int, device: str = "cpu") -> tuple[Call, float]:
    """(``dst.copy_(src)`` over fp32 arrays totalling ``working_set_bytes``, bytes moved)."""
    import torch

    elements = max(1, working_set_bytes // COPY_BYTES)
    src = torch.full((elements,), 1.0, device=device)
    dst = torch.empty(elements, device=device)
    return partial(dst.copy_, src), float(elements * COPY_BYTES)


def triad_call(working_set_bytes: int, device: str = "cpu") -> tuple[Call, float]:
    """(STREAM triad ``a = b + 3*c`` via ``torch.add(b, c, alpha=3)``, bytes moved)."""
    import torch

    elements = max(1, working_set_bytes // TRIAD_BYTES)
    b = torch.full((elements,), 1.0, device=device)
    c = torch.full((elements,), 2.0, device=device)
    a = torch.empty(elements, device=device)
    return partial(torch.add, b, c, alpha=3.0, out=a), float(elements * TRIAD_BYTES)


def int8_skip_reason(device: str = "cpu") -> str | None:
    """Why int8 GEMM cannot be measured on ``device`` (no working ``torch._int_mm``)."""
    import torch

    if not hasattr(torch, "_int_mm"):
        return "int8: not measured: this torch has no torch._int_mm"
    a = torch.ones(32, 32, dtype=torch.int8, device=device)
    try:
        torch._int_mm(a, a)
    except RuntimeError as error:
        return f"int8: not measured: torch._int_mm failed on {device} ({error})"
    return None
