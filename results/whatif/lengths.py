"""Padding vs packing: bert-base, 64 sequences of normal(40, 20) tokens clipped to [1, 128]."""

from perfsim.pipeline import simulate
from perfsim.scenario import Scenario, SequenceLengths
from perfsim.whatif.lengths import parse_lengths

lengths = parse_lengths("normal:40,20,128", 64)
print(
    f"{len(lengths)} sequences, {sum(lengths)} tokens, mean {sum(lengths) / len(lengths):.1f}, "
    f"longest {max(lengths)}"
)
print()
print(
    "| hw | engine | padded to 128 (ms) | padded to longest (ms) | packed (ms) "
    "| 128 / packed | longest / packed |"
)
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for hw in ("a100", "t4", "npu", "xeon-8380"):
    for engine in ("roofline", "cycle"):
        fixed, longest, packed = (
            simulate(Scenario("bert-base", lengths=batch), hw, engine=engine)
            for batch in (
                SequenceLengths(lengths, "padded", pad_to=128),
                SequenceLengths(lengths, "padded"),
                SequenceLengths(lengths, "packed"),
            )
        )
        print(
            f"| {hw} | {engine} | {fixed.latency_s * 1e3:.2f} | {longest.latency_s * 1e3:.2f} | "
            f"{packed.latency_s * 1e3:.2f} | {fixed.latency_s / packed.latency_s:.2f}x | "
            f"{longest.latency_s / packed.latency_s:.2f}x |"
        )
