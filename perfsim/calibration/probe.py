"""What the OS says about the host CPU: model, ISA flags, clock, caches, memory size.

Readers take the filesystem ``root`` (``/`` on a real host) so tests can point them at a
fake tree; parsers are pure functions of text. Nothing here imports torch.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from perfsim.calibration.record import MemoryInfo

# oneDNN src/cpu/x64/gemm/gemm_info.cpp: f32 GEMM register block (um rows x un columns)
_TILES: Final = (
    ("avx512_core", ("avx512f", "avx512bw", "avx512dq", "avx512vl"), (48, 8)),
    ("avx2", ("avx2", "fma"), (24, 4)),
    ("avx", ("avx",), (16, 4)),
)
_EXTRAS: Final = (
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "avx512_bf16",
    "avx512_fp16",
    "avx512_vnni",
    "avx_vnni",
)
_SIZE: Final = re.compile(r"^\s*(\d+)\s*([KMG]?)i?B?\s*$", re.IGNORECASE)
_SCALE: Final = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


@dataclass(frozen=True, slots=True)
class CpuInfo:
    """The first processor block of ``/proc/cpuinfo``."""

    model_name: str
    flags: frozenset[str]
    mhz: float | None


def parse_cpuinfo(text: str) -> CpuInfo:
    """Model name, ISA flags (``flags`` on x86, ``Features`` on Arm) and ``cpu MHz``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() and fields:
            break  # only the first processor's block
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    flags = fields.get("flags") or fields.get("features") or ""
    mhz = fields.get("cpu mhz")
    return CpuInfo(
        model_name=fields.get("model name") or fields.get("hardware") or "unknown CPU",
        flags=frozenset(flags.split()),
        mhz=float(mhz) if mhz else None,
    )


def parse_cpu_list(text: str) -> frozenset[int]:
    """A sysfs CPU list (``"0-3,8,10-11"``) as a set of CPU numbers."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return frozenset(cpus)


def parse_cache_size(text: str) -> int:
    """A sysfs cache size (``"48K"``, ``"2048K"``, ``"32M"``) in bytes (binary prefixes)."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"cannot parse cache size {text!r}")
    return int(match.group(1)) * _SCALE[match.group(2).upper()]


def detect_isa(flags: frozenset[str]) -> tuple[str, tuple[int, int], str]:
    """(ISA name, GEMM register tile, why) from the CPU flags.

    The tile is oneDNN's f32 GEMM register block for that ISA (gemm_info.cpp: avx512_core
    um=48 un=8, avx2 um=24 un=4, avx um=16 un=4); AMX and VNNI extras are listed in the
    name because bf16/int8 GEMMs use them, though the schema keeps one tile per engine.
    """
    extras = [flag for flag in _EXTRAS if flag in flags]
    for name, needed, tile in _TILES:
        if all(flag in flags for flag in needed):
            full = "+".join([name, *extras])
            why = (
                f"/proc/cpuinfo flags {' '.join(needed)} -> {name}; oneDNN "
                f"src/cpu/x64/gemm/gemm_info.cpp {name} f32 register block um={tile[0]}, "
                f"un={tile[1]}"
            )
            return full, tile, why
    return "generic", (8, 8), "assumed: no AVX flags found; a generic 8x8 register tile"


def read_cpuinfo(root: Path) -> CpuInfo:
    """``/proc/cpuinfo`` parsed, or an empty record where it cannot be read."""
    try:
        return parse_cpuinfo((root / "proc/cpuinfo").read_text(encoding="utf-8"))
    except OSError:
        return CpuInfo("unknown CPU", frozenset(), None)


def read_clock(root: Path, info: CpuInfo) -> tuple[float, str]:
    """(clock in Hz, where it was read): base clock, else max clock, else ``cpu MHz``."""
    cpufreq = root / "sys/devices/system/cpu/cpu0/cpufreq"
    for name, what in (("base_frequency", "base"), ("cpuinfo_max_freq", "maximum")):
        try:
            khz = float((cpufreq / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return khz * 1e3, f"{what} clock read from /sys/devices/system/cpu/cpu0/cpufreq/{name}"
    if info.mhz:
        return info.mhz * 1e6, (
            'read from /proc/cpuinfo "cpu MHz" (no cpufreq in sysfs; on a VM this is the '
            "host's nominal clock, on bare metal the current one)"
        )
    return 1e9, "assumed: no clock found in sysfs or /proc/cpuinfo; 1 GHz"


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip()


def _sysfs_caches(root: Path, cpus: tuple[int, ...]) -> tuple[MemoryInfo, ...]:
    """Data and unified caches of ``cpus[0]``, with their sharing over ``cpus``."""
    base = root / "sys/devices/system/cpu"
    siblings = parse_cpu_list(_read(base / f"cpu{cpus[0]}/topology/thread_siblings_list"))
    levels: list[MemoryInfo] = []
    for index in sorted((base / f"cpu{cpus[0]}/cache").glob("index*")):
        kind = _read(index / "type")
        if kind == "Instruction":
            continue
        level = int(_read(index / "level"))
        shared = parse_cpu_list(_read(index / "shared_cpu_list"))
        groups = {
            parse_cpu_list(_read(base / f"cpu{cpu}/cache/{index.name}/shared_cpu_list"))
            for cpu in cpus
        }
        levels.append(
            MemoryInfo(
                name=f"l{level}d" if kind == "Data" else f"l{level}",
                capacity_bytes=parse_cache_size(_read(index / "size")),
                per_unit=shared <= siblings,
                instances=len(groups),
                source=(
                    f"/sys/devices/system/cpu/cpu{cpus[0]}/cache/{index.name} (level {level}, "
                    f"{kind}, shared_cpu_list {_read(index / 'shared_cpu_list')})"
                ),
            )
        )
    return tuple(levels)


def _sysconf_caches(threads: int) -> tuple[MemoryInfo, ...]:
    """Cache sizes from glibc's ``os.sysconf``; sharing is assumed (L1/L2 private, L3 not)."""
    levels = []
    for name, key, private in (
        ("l1d", "SC_LEVEL1_DCACHE_SIZE", True),
        ("l2", "SC_LEVEL2_CACHE_SIZE", True),
        ("l3", "SC_LEVEL3_CACHE_SIZE", False),
    ):
        try:
            size = os.sysconf(key)
        except (ValueError, OSError):
            continue
        if size > 0:
            sharing = "private per core" if private else "one shared instance"
            levels.append(
                MemoryInfo(
                    name=name,
                    capacity_bytes=size,
                    per_unit=private,
                    instances=threads if private else 1,
                    source=f"os.sysconf({key}); assumed {sharing}",
                )
            )
    return tuple(levels)


def read_dram(root: Path) -> MemoryInfo:
    """Installed memory: ``MemTotal`` from ``/proc/meminfo`` (else ``os.sysconf``)."""
    try:
        for line in (root / "proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return MemoryInfo("dram", kib * 1024, False, 1, "/proc/meminfo MemTotal")
    except (OSError, ValueError, IndexError):
        pass
    size = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return MemoryInfo("dram", size, False, 1, "os.sysconf(SC_PAGE_SIZE * SC_PHYS_PAGES)")


def available_memory_bytes(root: Path) -> int:
    """``MemAvailable`` from ``/proc/meminfo``, bytes (else half of ``MemTotal``)."""
    try:
        for line in (root / "proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return read_dram(root).capacity_bytes // 2


def used_cpus(threads: int) -> tuple[int, ...]:
    """The first ``threads`` CPUs this process may run on (torch's threads land there)."""
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    return tuple(allowed[: max(1, threads)])


def read_memory(root: Path, threads: int) -> tuple[MemoryInfo, ...]:
    """The host's data-cache levels (nearest first) and DRAM.

    Caches come from sysfs; where sysfs has none (some containers), from ``os.sysconf``.
    """
    cpus = used_cpus(threads)
    try:
        caches = _sysfs_caches(root, cpus)
    except (OSError, ValueError):
        caches = ()
    return (*(caches or _sysconf_caches(threads)), read_dram(root))


def cpu_seconds(root: Path) -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole host so far, from ``/proc/stat``'s ``cpu`` line.

    Busy counts user, nice, system, irq, softirq and steal (time the hypervisor gave
    to others); total adds idle and iowait. None where ``/proc/stat`` cannot be read.
    """
    try:
        first = (root / "proc/stat").read_text(encoding="utf-8").splitlines()[0].split()
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, first[1:9])
    except (OSError, ValueError, IndexError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    busy = user + nice + system + irq + softirq + steal
    return busy / tick, (busy + idle + iowait) / tick


def contention(
    before: tuple[float, float] | None, after: tuple[float, float] | None, own_s: float
) -> float | None:
    """Share of the host's CPU time between two `cpu_seconds` readings that was not ours.

    ``own_s`` is this process's CPU time over the same span (``time.process_time``).
    """
    if before is None or after is None or after[1] <= before[1]:
        return None
    others = (after[0] - before[0]) - own_s
    return min(1.0, max(0.0, others / (after[1] - before[1])))
