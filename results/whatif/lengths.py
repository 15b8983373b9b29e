"""Padding vs packing: bert-base, 64 sequences of normal(40, 20) tokens clipped to [1, 128]."""

from perfsim.whatif.lengths import parse_lengths
from perfsim.whatif.run import run_whatif

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
        fixed = run_whatif(
            "bert-base", hw, engine=engine, seq_lengths=lengths, padding="padded", pad_to=128
        )
        longest = run_whatif("bert-base", hw, engine=engine, seq_lengths=lengths, padding="padded")
        packed = run_whatif("bert-base", hw, engine=engine, seq_lengths=lengths, padding="packed")
        print(
            f"| {hw} | {engine} | {fixed.latency_s * 1e3:.2f} | {longest.latency_s * 1e3:.2f} | "
            f"{packed.latency_s * 1e3:.2f} | {fixed.latency_s / packed.latency_s:.2f}x | "
            f"{longest.latency_s / packed.latency_s:.2f}x |"
        )
