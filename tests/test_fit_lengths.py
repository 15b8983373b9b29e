"""``perfsim fit --seq-lengths``: the largest batch of real sequences whose training step
fits (`perfsim.api.fit_batch`, `perfsim.whatif.length_files.cycled_lengths`)."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from perfsim.api import fit_batch
from perfsim.cache import GraphStore
from perfsim.cli import cli
from perfsim.hardware import resolve_hardware
from perfsim.pipeline import scenario_graph
from perfsim.scenario import Scenario
from perfsim.training.footprint import memory_footprint
from perfsim.whatif.length_files import cycled_lengths, parse_lengths
from perfsim.whatif.lengths import SequenceLengths

EDGE = resolve_hardware("edge-npu")  # 1 GiB: bert-tiny's answer is a few hundred sequences
WIKIPEDIA = "workloads/schedules/wikipedia-512-lengths.csv"  # 56 quantiles, ascending


def step(lengths: tuple[int, ...], padding: str) -> Scenario:
    return Scenario(
        "bert-tiny",
        batch=len(lengths),
        mode="training",
        precision="fp16",
        lengths=SequenceLengths(lengths, padding),
    )


def footprint(lengths: tuple[int, ...], padding: str, store: GraphStore) -> int:
    graph = scenario_graph(step(lengths, padding), EDGE, store)
    answer = memory_footprint(graph.meta, "fp16")
    assert answer is not None
    return answer.total


def test_a_file_is_a_shuffled_mix_repeated() -> None:
    mix = parse_lengths(WIKIPEDIA)
    whole = cycled_lengths(WIKIPEDIA, len(mix))
    assert sorted(whole) == sorted(mix)  # one pass is exactly the mix
    assert cycled_lengths(WIKIPEDIA, 3 * len(mix)) == whole * 3
    # the file is sorted, so its first 8 lines average 40 tokens; a batch of 8 is a sample
    assert statistics.mean(mix[:8]) < 0.2 * statistics.mean(mix)
    assert abs(statistics.mean(cycled_lengths(WIKIPEDIA, 8)) / statistics.mean(mix) - 1) < 0.5


@settings(max_examples=25, deadline=None)
@given(
    spec=st.sampled_from([WIKIPEDIA, "uniform:16-64", "normal:40,20,128@3"]),
    small=st.integers(1, 40),
    extra=st.integers(0, 60),
)
def test_a_bigger_batch_only_adds_sequences(spec: str, small: int, extra: int) -> None:
    """The property the fit's search needs: its footprint never falls as the batch grows."""
    bigger = cycled_lengths(spec, small + extra)
    assert len(bigger) == small + extra
    assert bigger[:small] == cycled_lengths(spec, small)


def test_fit_with_lengths_is_verified_by_traces(store: GraphStore) -> None:
    def lengths_at(batch: int) -> tuple[int, ...]:
        return cycled_lengths("uniform:16-64", batch)

    for padding in ("packed", "padded"):
        scenario = step(lengths_at(1), padding)
        answer = fit_batch(scenario, EDGE, store, lengths_at)
        capacity = EDGE.level_capacity(EDGE.memory[-1])
        assert answer.fits
        assert footprint(lengths_at(answer.batch), padding, store) <= capacity
        assert footprint(lengths_at(answer.batch + 1), padding, store) > capacity
        assert answer.footprint_bytes == footprint(lengths_at(answer.batch), padding, store)
    packed = fit_batch(step(lengths_at(1), "packed"), EDGE, store, lengths_at).batch
    padded = fit_batch(step(lengths_at(1), "padded"), EDGE, store, lengths_at).batch
    assert packed > padded  # the same sequences without their padding


def test_fit_without_a_lengths_function_repeats_the_scenarios_mix(store: GraphStore) -> None:
    mix = (20, 60, 33)
    answer = fit_batch(step(mix, "packed"), EDGE, store)
    expected = tuple(mix[i % 3] for i in range(answer.batch + 1))
    capacity = EDGE.level_capacity(EDGE.memory[-1])
    assert footprint(expected[:-1], "packed", store) <= capacity
    assert footprint(expected, "packed", store) > capacity


def test_cli_fit_reports_the_lengths_and_rejects_a_bad_spec(graph_cache: Path) -> None:
    args = ["fit", "-m", "bert-tiny", "--hw", "edge-npu", "-p", "fp16"]
    lengths = ["--seq-lengths", "uniform:16-64", "--padding", "packed"]
    done = CliRunner().invoke(
        cli, [*args, *lengths, "--cache-dir", str(graph_cache), "--format", "json"]
    )
    assert done.exit_code == 0, done.output
    answer = json.loads(done.stdout)
    assert answer["seq_lengths"] == {"spec": "uniform:16-64", "padding": "packed"}
    assert answer["max_batch"] + 1 in answer["traced_batches"]  # verified by a trace
    bad = subprocess.run(
        [sys.executable, "-m", "perfsim", *args, "--seq-lengths", "uniform:64-16"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "--seq-lengths" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
