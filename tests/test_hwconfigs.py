"""Every shipped hardware file loads, is physically ordered, is sourced, and matches its
datasheet peak; bad hardware files fail with one line naming the file and the field."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from perfsim.errors import SpecError
from perfsim.hardware import HardwareSpec, load_hardware, resolve_hardware

HWCONFIGS = Path(__file__).resolve().parent.parent / "hwconfigs"
FILES = sorted(HWCONFIGS.glob("*.yaml"))
NPU = HWCONFIGS / "npu.yaml"


def test_there_are_hardware_files() -> None:
    assert NPU in FILES
    assert len(FILES) >= 2


@pytest.fixture(params=FILES, ids=[file.stem for file in FILES])
def hw_file(request: pytest.FixtureRequest) -> Path:
    path: Path = request.param
    return path


@pytest.fixture
def spec(hw_file: Path) -> HardwareSpec:
    return load_hardware(hw_file)


def test_name_matches_file(spec: HardwareSpec, hw_file: Path) -> None:
    # `--hw <name>` resolves by file stem; the spec's own name should agree with it
    assert spec.name == hw_file.stem


def test_memory_levels_grow_outward(spec: HardwareSpec) -> None:
    """Nearest to farthest: capacity grows, aggregate bandwidth does not.

    Capacity is compared per instance, i.e. what one compute unit can hold at that level
    (one SM's L1, the whole shared L2). NB: aggregate capacity is *not* monotonic on real
    chips: V100's 80 x 128 KiB L1 = 10 MiB exceeds its 6 MiB L2. The farthest level still
    holds the most in aggregate.
    """
    levels = spec.memory
    names = [level.name for level in levels]
    for near, far in itertools.pairwise(levels):
        assert near.capacity < far.capacity, f"{near.name} vs {far.name} in {names}"
        # equal is allowed: epyc-genoa's L2 and L3 both feed 32 B/clk per core
        assert spec.level_bandwidth(near) >= spec.level_bandwidth(far), (
            f"{near.name} vs {far.name} in {names}"
        )
    aggregate = [spec.level_capacity(level) for level in levels]
    assert aggregate[-1] == max(aggregate)
    assert spec.level_bandwidth(levels[0]) > spec.level_bandwidth(levels[-1])


def test_native_precision_is_executable(spec: HardwareSpec) -> None:
    assert spec.native_precision in spec.supported_precisions()


# A line sets a number when its value contains a digit: `units: 4`, `clock: "1050 MHz"`,
# `tile: [128, 256]`, and also `native_precision: bf16`. Not counted: `version`, free-text
# `description`, identifiers (`name: l1`), and headers with no value (`macs_per_cycle:`).
_LINE = re.compile(
    r"^\s*(?:-\s+)?(?P<key>[A-Za-z_][\w.-]*)\s*:\s*(?P<value>[^#]*?)\s*(?:#(?P<note>.*))?$"
)
_NOT_NUMBERS = {"version", "description", "name"}


def _unsourced_numbers(text: str) -> tuple[int, list[str]]:
    """(lines that set a number, those of them without a ``# source:`` comment)."""
    checked, missing = 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        assert match, f"line {number} is not `key: value  # comment`: {line!r}"
        if match["key"] in _NOT_NUMBERS or not re.search(r"\d", match["value"]):
            continue
        checked += 1
        if "source:" not in (match["note"] or ""):
            missing.append(f"line {number}: {line.strip()}")
    return checked, missing


def test_every_number_has_a_source(hw_file: Path) -> None:
    checked, missing = _unsourced_numbers(hw_file.read_text(encoding="utf-8"))
    assert checked >= 15  # the rule is not vacuous: clock, units, capacities, energies, ...
    assert missing == [], f"{hw_file.name}: numbers without `# source:`: {missing}"


def test_source_rule_catches_a_bare_number() -> None:
    text = 'compute:\n  units: 4  # source: x\n  clock: "1 GHz"\n  matrix:\n    rows: 8\n'
    assert _unsourced_numbers(text) == (3, ['line 3: clock: "1 GHz"', "line 5: rows: 8"])


# (file stem, dtype, published peak FLOP/s, relative tolerance, where the figure comes from)
PEAKS = [
    ("npu", "bf16", 137.6e12, 0.01, "TPUv4i: 138 TFLOPS bf16 (Jouppi et al. ISCA 2021)"),
    ("npu", "int8", 137.6e12, 0.01, "TPUv4i: 138 TOPS int8"),
    ("a100", "fp16", 312e12, 0.03, "A100 whitepaper: 312 TFLOPS fp16 tensor, dense"),
    ("h100", "fp16", 989e12, 0.03, "H100 SXM5: 989 TFLOPS fp16 tensor, dense"),
    ("v100", "fp16", 125e12, 0.03, "V100 whitepaper: 125 TFLOPS tensor"),
    ("t4", "fp16", 65e12, 0.03, "T4 datasheet: 65 TFLOPS fp16 mixed precision"),
    ("mi100", "fp16", 184.6e12, 0.03, "MI100: 184.6 TFLOPS fp16 matrix"),
    ("tpu-v3", "bf16", 123e12, 0.03, "Cloud TPU v3: 123 TFLOPS bf16"),
]


@pytest.mark.parametrize(
    ("stem", "dtype", "published", "tolerance", "source"),
    PEAKS,
    ids=[f"{row[0]}-{row[1]}" for row in PEAKS],
)
def test_matrix_peak_matches_published(
    stem: str, dtype: str, published: float, tolerance: float, source: str
) -> None:
    # peak = 2 * macs_per_cycle * units * clock, e.g. npu: 2 * 16384 * 4 * 1.05e9 = 137.6e12
    path = HWCONFIGS / f"{stem}.yaml"
    if not path.exists():
        pytest.skip(f"{path.name} is not shipped")
    peak = load_hardware(path).matrix_peak_flops(dtype)
    assert peak == pytest.approx(published, rel=tolerance), source


# ---- bad input ------------------------------------------------------------------------


def _npu_text() -> str:
    return NPU.read_text(encoding="utf-8")


def _npu_data() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(_npu_text())
    return data


def _replace(old: str, new: str) -> Callable[[], str]:
    def mutate() -> str:
        text = _npu_text()
        assert text.count(old) == 1, old
        return text.replace(old, new)

    return mutate


def _edit(change: Callable[[dict[str, Any]], object]) -> Callable[[], str]:
    def mutate() -> str:
        data = _npu_data()
        change(data)
        return yaml.safe_dump(data, sort_keys=False)

    return mutate


CLOCK_LINE = 1 + next(
    number for number, line in enumerate(_npu_text().splitlines()) if line.startswith("  clock:")
)


def _duplicate_clock() -> str:
    line = '  clock: "1050 MHz"'
    text = _npu_text()
    start = text.index(line)
    end = text.index("\n", start)
    return text[:end] + '\n  clock: "1000 MHz"' + text[end:]


def _without_line(prefix: str) -> Callable[[], str]:
    def mutate() -> str:
        lines = _npu_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(prefix)]
        assert len(kept) == len(lines) - 1, prefix
        return "".join(kept)

    return mutate


# (id, mutation → file text, substrings the one-line message must contain)
BAD_FILES = [
    pytest.param(
        _duplicate_clock,
        ["compute.clock: duplicate key", f"line {CLOCK_LINE + 1}"],
        id="duplicate-key",
    ),
    pytest.param(
        _edit(lambda d: d["compute"]["matrix"].update(colour=3)),
        ["compute.matrix.colour", "unknown key"],
        id="unknown-key",
    ),
    pytest.param(
        _edit(lambda d: d.update(speed="fast")),
        ["speed", "unknown key"],
        id="unknown-top-level-key",
    ),
    pytest.param(
        _edit(lambda d: d["compute"].pop("clock")),
        ["compute.clock", "missing"],
        id="missing-clock",
    ),
    pytest.param(
        _edit(lambda d: d["memory"][1].update(energy_per_byte="-3 pJ")),
        ["memory[1].energy_per_byte", "greater than or equal to 0"],
        id="negative-energy-per-byte",
    ),
    pytest.param(
        _replace('clock: "1050 MHz"', "clock: 1050"),
        ["compute.clock", "no unit", "frequency"],
        id="bare-number",
    ),
    pytest.param(
        _replace('bandwidth: "614 GB/s"', 'bandwidth: "614 GB"'),
        ["memory[1].bandwidth", "'GB'", "bandwidth like"],
        id="wrong-unit",
    ),
    pytest.param(
        _replace('capacity: "16 MiB"', 'capacity: "0 MiB"'),
        ["memory[0].capacity", "greater than 0"],
        id="zero-capacity",
    ),
    pytest.param(
        _replace('capacity: "8 GiB"', 'capacity: "-8 GiB"'),
        ["memory[1].capacity", "greater than 0"],
        id="negative-capacity",
    ),
    pytest.param(
        _replace("units: 4 ", "units: [4 "),
        ["malformed YAML", "line"],
        id="malformed-yaml",
    ),
    pytest.param(
        lambda: "- npu\n- 4\n",
        ["expected a mapping at the top level", "list"],
        id="top-level-list",
    ),
    pytest.param(
        _replace("version: 1", "version: 2"),
        ["version", "expected 1", "2"],
        id="wrong-version",
    ),
    pytest.param(
        _edit(lambda d: d.pop("version")),
        ["version", "expected 1"],
        id="missing-version",
    ),
    pytest.param(
        # fp8 has no default MAC energy (Horowitz has no fp8 figure), so the file must give it
        _edit(lambda d: d["compute"]["matrix"]["macs_per_cycle"].update(fp8=16384)),
        ["energy.mac needs an entry for matrix dtype fp8"],
        id="energy-mac-missing-dtype",
    ),
    pytest.param(
        _edit(lambda d: d["memory"][0].update(name="hbm")),
        ["memory", "unique", "hbm"],
        id="duplicate-level-name",
    ),
    pytest.param(
        _edit(lambda d: d["compute"]["matrix"].update(fp32_as="fp16")),
        ["compute.matrix", "fp32_as: fp16 is not a dtype in macs_per_cycle"],
        id="fp32-as-a-dtype-the-array-lacks",
    ),
    pytest.param(
        _edit(
            lambda d: d["compute"]["matrix"].update(
                fp32_as="bf16", macs_per_cycle={"bf16": 16384, "fp32": 4096}
            )
        ),
        ["fp32_as: bf16 runs fp32 at bf16's rate"],
        id="fp32-as-with-another-fp32-rate",
    ),
    pytest.param(
        _edit(
            lambda d: (
                d["compute"]["matrix"].update(fp32_as="bf16"),
                d["energy"]["mac"].pop("fp32", None),
            )
        ),
        ["energy.mac needs an fp32 entry with compute.matrix.fp32_as: bf16"],
        id="fp32-as-without-its-mac-energy",
    ),
    pytest.param(
        _edit(lambda d: d.update(native_precision="int4")),
        ["native_precision", "int4"],
        id="native-precision-not-executable",
    ),
]


@pytest.mark.parametrize(("mutate", "needles"), BAD_FILES)
def test_bad_hardware_file(tmp_path: Path, mutate: Callable[[], str], needles: list[str]) -> None:
    path = tmp_path / "bad-npu.yaml"
    path.write_text(mutate(), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_hardware(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for needle in needles:
        assert needle in message


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(SpecError, match="file not found") as caught:
        load_hardware(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_unknown_hardware_name_suggests_a_close_one() -> None:
    with pytest.raises(SpecError, match="did you mean npu") as caught:
        resolve_hardware("nup")
    assert "\n" not in str(caught.value)


def test_resolve_by_name_and_by_path_agree() -> None:
    assert resolve_hardware("npu") == resolve_hardware(NPU) == load_hardware(NPU)


# (file stem, published device-to-device bandwidth in bytes/s, both directions, source):
# links x bandwidth per direction x 2 must give it
INTERCONNECTS = [
    ("v100", 300e9, "V100 whitepaper: 6 NVLink2 links, 300 GB/s total"),
    ("a100", 600e9, "A100 whitepaper: 12 NVLink3 links, 600 GB/s total"),
    ("h100", 900e9, "H100 whitepaper: 18 NVLink4 links, 900 GB/s total"),
    ("mi100", 276e9, "MI100 datasheet: 3 Infinity Fabric links, 276 GB/s peak"),
    ("tpu-v3", 2 * 4 * 656e9 / 8, "Jouppi et al. CACM 2020 Table 3: 4 ICI links @ 656 Gbit/s"),
]


@pytest.mark.parametrize(
    ("stem", "published", "source"), INTERCONNECTS, ids=[row[0] for row in INTERCONNECTS]
)
def test_interconnect_matches_published(stem: str, published: float, source: str) -> None:
    net = load_hardware(HWCONFIGS / f"{stem}.yaml").interconnect
    assert net is not None
    assert 2 * net.links * net.bandwidth == pytest.approx(published, rel=0.01), source


def test_dgx_scale_out_matches_the_datasheets() -> None:
    # DGX-1: 4 x EDR 100 Gb/s; DGX A100: 8 x HDR 200 Gb/s; DGX H100: 8 x NDR 400 Gb/s
    for stem, per_node in (
        ("v100", 4 * 100e9 / 8),
        ("a100", 8 * 200e9 / 8),
        ("h100", 8 * 400e9 / 8),
    ):
        net = load_hardware(HWCONFIGS / f"{stem}.yaml").interconnect
        assert net is not None and net.scale_out is not None
        assert net.scale_out.devices_per_node == 8
        assert net.scale_out.nics * net.scale_out.bandwidth == pytest.approx(per_node), stem


def test_bad_interconnect_names_the_field(tmp_path: Path) -> None:
    data = _npu_data()
    data["interconnect"] = {
        "topology": "ring",
        "bandwidth": "10 GB/s",
        "latency": "1 us",
        "links": 2,
        "dims": [4, 4],
    }
    path = tmp_path / "bad-npu.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_hardware(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: interconnect: dims is only meaningful for topology torus2d")
