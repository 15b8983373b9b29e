"""Study ``demystify-bert``: the analysis of Pati, Aga, Jayasena & Sinclair, "Demystifying
BERT: Implications for Accelerator Design" (arXiv 2104.08335; IISWC 2022 as "System Design
Implications"), as a command.

The scenario is theirs: BERT-large pre-training with LAMB, phase 1 at sequence 128 and phase 2
at sequence 512, fp32 and mixed precision, on an AMD MI100 and an NVIDIA V100 (plus perfsim's
NPU). The per-device batches are NVIDIA's BERT-large pre-training recipe on 32 GB V100s
(DeepLearningExamples: 64 x seq 128 with gradient accumulation in micro-batches, 16 x seq
512 at phase 2 with mixed precision); perfsim uses micro-batches of 32 and 8, which fit an
fp32 step in 32 GB as well. The optimizer is costed as a multi-tensor fused LAMB (NVIDIA
apex ``FusedLAMB``, what that reference implementation runs): the ``fusion=optimizer``
what-if.

Every figure is computed from perfsim runs made here; each sentence under a figure is
formatted from the same numbers (nothing in a sentence is typed in by hand).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from perfsim.cache import GraphStore
from perfsim.studies.demystify.figures import (
    amdahl_figure,
    batch_figure,
    breakdown_figure,
    breakdowns,
    intensity_figure,
    seq_figure,
)
from perfsim.studies.demystify.points import (
    AMDAHL_FACTORS,
    BASE_WHATIFS,
    BATCH_SWEEP,
    DEVICE_COUNTS,
    DEVICES,
    IVANOV_FLOP_SHARE,
    IVANOV_RUNTIME_SHARE,
    IVANOV_SCENARIO,
    MODEL,
    PHASES,
    SEQ_SWEEP,
    Point,
    Runner,
    breakdown_rows,
    mixed_precision,
    optimizer_share,
    stacked_bar,
    top_categories,
)
from perfsim.studies.demystify.scaling import (
    communication_figure,
    ivanov_classes,
    ivanov_figure,
    whatif_figure,
)
from perfsim.studies.report import Figure

FIGURES: Final[tuple[Callable[[Runner], Figure], ...]] = (
    breakdown_figure,
    batch_figure,
    seq_figure,
    intensity_figure,
    amdahl_figure,
    whatif_figure,
    communication_figure,
    ivanov_figure,
)

TITLE: Final = "Demystifying BERT with perfsim: BERT-large pre-training"
INTRO: Final = (
    "BERT-large pre-training with LAMB (phase 1: sequence 128, 32 sequences per device; "
    "phase 2: sequence 512, 8 per device) on the MI100, V100 and NPU hardware files, "
    "roofline engine, optimizer fused as NVIDIA apex's FusedLAMB; after Pati et al., "
    "'Demystifying BERT: Implications for Accelerator Design' (arXiv 2104.08335)."
)


def run_study(
    *,
    store: GraphStore | None = None,
    progress: Callable[[str], None] | None = None,
    figures: Iterable[Callable[[Runner], Figure]] = FIGURES,
) -> list[Figure]:
    """Every figure of the study, in order."""
    runner = Runner(store=store, progress=progress)
    return [make(runner) for make in figures]


__all__ = [
    "AMDAHL_FACTORS",
    "BASE_WHATIFS",
    "BATCH_SWEEP",
    "DEVICES",
    "DEVICE_COUNTS",
    "FIGURES",
    "INTRO",
    "IVANOV_FLOP_SHARE",
    "IVANOV_RUNTIME_SHARE",
    "IVANOV_SCENARIO",
    "MODEL",
    "PHASES",
    "SEQ_SWEEP",
    "TITLE",
    "Point",
    "Runner",
    "amdahl_figure",
    "batch_figure",
    "breakdown_figure",
    "breakdown_rows",
    "breakdowns",
    "communication_figure",
    "intensity_figure",
    "ivanov_classes",
    "ivanov_figure",
    "mixed_precision",
    "optimizer_share",
    "run_study",
    "seq_figure",
    "stacked_bar",
    "top_categories",
    "whatif_figure",
]
