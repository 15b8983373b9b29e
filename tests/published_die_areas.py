"""Published die areas of the parts that hwconfigs/ describes: the references the area
model (`perfsim.area`) is checked against. Kept here, in the tests, never in the model.

Each entry: hardware file stem -> (published die area mm^2, what it is, source).
"""

from __future__ import annotations

from typing import Final

# Accelerators: asserted within 25 % (tests/test_area.py)
ACCELERATORS: Final[dict[str, tuple[float, str, str]]] = {
    "tpu-v1": (
        331.0,
        "TPU v1 die, '<= 331 mm^2' (an upper bound: 'less than half the size of Haswell')",
        "Jouppi et al., 'In-Datacenter Performance Analysis of a Tensor Processing Unit', "
        "ISCA 2017, Table 2",
    ),
    "tpu-v3": (
        648.0,
        "TPUv3 chip die, '< 648 mm^2' (two TensorCores, 16 nm)",
        "Jouppi et al., 'A Domain-Specific Supercomputer for Training Deep Neural "
        "Networks', CACM 63(7), 2020, Table 3 (die size TPUv2 < 611, TPUv3 < 648 mm^2)",
    ),
    "npu": (
        400.0,
        "TPUv4i die, '< 400 mm^2' (one TensorCore, 7 nm)",
        "Jouppi et al., 'Ten Lessons From Three Generations Shaped Google's TPUv4i', "
        "ISCA 2021, Table 1",
    ),
    "eyeriss": (
        12.25,
        "Eyeriss v1 core, 3.5 mm x 3.5 mm (65 nm; the 4 mm x 4 mm die adds pads)",
        "Chen et al., 'Eyeriss: An Energy-Efficient Reconfigurable Accelerator for Deep "
        "Convolutional Neural Networks', IEEE JSSC 52(1), 2017, Table I",
    ),
}

# Edge NPUs with a published area, reported: the estimate runs low (README "Area and power")
EDGE_NPUS: Final[dict[str, tuple[float, str, str]]] = {
    "exynos2400-npu": (
        12.0,
        "Exynos 2400 NPU, two cores (2 x (8192 + 512) MACs), 6 MB NPUMEM, Samsung 4 nm",
        "Park et al., 'An On-Device Generative AI Focused Neural Processing Unit in 4nm "
        "Flagship Mobile SoC with Fan-Out Wafer-Level Package', ISSCC 2025, as summarised by "
        "chipcraft.app 'Exynos 2400 NPU' (12 mm^2, 41.64 TOPS, 3.48 TOPS/mm^2)",
    ),
}

# GPUs, estimates: the files leave out texture, raster and media blocks the dies have (see
# README); asserted within 25 % only where they land there (`GPUS_WITHIN_25`)
REPORTED: Final[dict[str, tuple[float, str, str]]] = {
    "a100": (826.0, "GA100 die", "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020)"),
    "v100": (815.0, "GV100 die", "NVIDIA Tesla V100 GPU Architecture whitepaper (2017)"),
    "v100-pcie": (815.0, "GV100 die (as V100 SXM2)", "NVIDIA V100 whitepaper (2017)"),
    "h100": (814.0, "GH100 die", "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022)"),
    "h200": (814.0, "GH100 die (as H100)", "NVIDIA H100 whitepaper; H200 uses the GH100 die"),
    "t4": (
        545.0,
        "TU104 die (48 SMs; T4 enables 40)",
        "NVIDIA Turing GPU Architecture whitepaper (2018)",
    ),
}

# GPUs whose estimate lands within 25 % of the die (A100: -24 %), asserted as such
GPUS_WITHIN_25: Final[frozenset[str]] = frozenset({"a100"})
