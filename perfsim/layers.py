"""Layer-list workloads: SCALE-Sim topology CSVs (GEMM and convolution rows) → `OpGraph`.

GEMM rows are ``name, M, N, K,``: ``C[M x N] = A[M x K] @ B[K x N]`` (SCALE-Sim's ifmap is
A, its filter B). Convolution rows are ``name, ifmap H, ifmap W, filter H, filter W,
channels, filters, stride,`` and become the GEMM SCALE-Sim runs (im2col): ``M`` output
pixels, ``K = filter H x filter W x channels``, ``N = filters``; a layer whose name
contains ``DP`` is depthwise and runs one single-channel GEMM per channel, as in SCALE-Sim.
Bytes count the ifmap as stored (not im2col'ed), the filter and the ofmap once each.
``--batch`` multiplies M (a batch of images or token rows); ``--seq`` does not apply.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from perfsim.counting import count_bytes, count_flops
from perfsim.errors import WorkloadError
from perfsim.ir import Category, GraphMeta, OpGraph, OpNode, TensorSpec

LAYER_LIST = "layer-list"
# (name, M, N, K, ifmap elements)
Layer = tuple[str, int, int, int, int]


def _numbers(path: Path, line: int, cells: Sequence[str], count: int) -> list[int]:
    values = []
    for column, cell in enumerate(cells[1 : 1 + count], start=2):
        try:
            value = int(cell.strip())
        except ValueError:
            raise WorkloadError(
                f"{path}: line {line}, column {column}: expected a positive integer, got {cell!r}"
            ) from None
        if value <= 0:
            raise WorkloadError(
                f"{path}: line {line}, column {column}: expected a positive integer, got {value}"
            )
        values.append(value)
    return values


def parse_topology(path: Path) -> list[Layer]:
    """Read a SCALE-Sim topology CSV (GEMM or convolution form, told apart by column count)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkloadError(f"{path}: file not found") from None
    rows = [row for row in csv.reader(text.splitlines())]
    layers: list[Layer] = []
    for line, row in enumerate(rows[1:], start=2):  # the first row is a header
        cells = [cell for cell in row if cell.strip() != ""]
        if not cells:
            continue
        name = cells[0].strip()
        if len(cells) in (4, 5):  # name, M, N, K [, sparsity]
            m, n, k = _numbers(path, line, cells, 3)
            layers.append((name, m, n, k, m * k))
        elif (
            len(cells) >= 8
        ):  # name, ifmap h, ifmap w, filter h, filter w, channels, filters, stride
            ih, iw, fh, fw, channels, filters, stride = _numbers(path, line, cells, 7)
            if fh > ih or fw > iw:
                raise WorkloadError(
                    f"{path}: line {line}: filter {fh}x{fw} larger than ifmap {ih}x{iw}"
                )
            pixels = ((ih - fh) // stride + 1) * ((iw - fw) // stride + 1)
            if "DP" in name:
                layers.extend(
                    (f"{name}Channel_{c}", pixels, filters, fh * fw, ih * iw)
                    for c in range(channels)
                )
            else:
                layers.append((name, pixels, filters, fh * fw * channels, ih * iw * channels))
        else:
            raise WorkloadError(
                f"{path}: line {line}: expected 'name, M, N, K,' (GEMM) or 'name, ifmap H, "
                "ifmap W, filter H, filter W, channels, filters, stride,' (convolution)"
            )
    if not layers:
        raise WorkloadError(f"{path}: no layers (expected a header row, then one row per layer)")
    return layers


def layer_config(path: Path) -> dict[str, Any]:
    """The ``config`` of a layer-list `ModelSpec`."""
    return {"model_type": LAYER_LIST, "layers": [list(layer) for layer in parse_topology(path)]}


def layer_graph(name: str, layers: Sequence[Sequence[Any]], batch: int) -> OpGraph:
    """One fp32 ``gemm`` op per layer (retyped later by the precision policy)."""
    ops: list[OpNode] = []
    for layer_name, m, n, k, ifmap_elements in layers:
        rows = m * batch
        ifmap = TensorSpec((rows, k), "fp32", stored_numel=ifmap_elements * batch)
        weight = TensorSpec((k, n), "fp32", role="weight")
        ofmap = TensorSpec((rows, n), "fp32")
        dims = {"b": 1, "m": rows, "n": n, "k": k}
        macs, flops = count_flops(Category.GEMM, "mm", (ifmap, weight), (ofmap,), dims)
        read, written = count_bytes(Category.GEMM, "mm", (ifmap, weight), (ofmap,))
        ops.append(
            OpNode(
                name=str(layer_name),
                category=Category.GEMM,
                target="layer.gemm",
                scope=str(layer_name),
                layer=len(ops),
                phase="forward",
                inputs=(ifmap, weight),
                outputs=(ofmap,),
                dims=dims,
                macs=macs,
                flops=flops,
                bytes_read=read,
                bytes_written=written,
            )
        )
    params = sum(int(layer[2]) * int(layer[3]) for layer in layers)
    return OpGraph(
        tuple(ops),
        GraphMeta(model=name, batch=batch, seq=None, mode="inference", params=params),
    )
