"""What each what-if knob buys: bert-base, batch 8, seq 128, on npu and a100, both engines."""

from perfsim.api import trace_graph
from perfsim.hardware import resolve_hardware
from perfsim.whatif import estimate_whatif, parse_whatifs

graph = trace_graph("bert-base", batch=8, seq=128)
KNOBS = [
    {},
    {"fusion": "epilogue"},
    {"fusion": "attention"},
    {"fusion": "all"},
    {"pim": True},
    {"fusion": "all", "pim": True},
    {"quant": "int8"},
    {"quant": "w4a8"},
    {"prune_heads": 0.5},
    {"prune_ffn": 0.5},
    {"sparsity": "2:4"},
    {"low_rank": 0.25},
    {"instances": 2},
    {"instances": 4},
]
print("| hw | engine | knobs | latency (ms) | samples/s | GFLOP | DRAM MB | energy (mJ) |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
for name in ("npu", "a100"):
    hw = resolve_hardware(name)
    for engine in ("roofline", "cycle"):
        for knobs in KNOBS:
            s = estimate_whatif(
                graph, hw, precision=None, engine=engine, whatifs=parse_whatifs(knobs)
            ).summary()
            label = ", ".join(f"{k}={v}" for k, v in knobs.items()) or "(none)"
            dram = list(s["memory_traffic_bytes"].values())[-1] / 1e6
            print(
                f"| {name} | {engine} | {label} | {s['latency_s'] * 1e3:.3f} | "
                f"{s['throughput_samples_per_s']:,.0f} | {s['flops'] / 1e9:.1f} | {dram:,.0f} | "
                f"{s['energy_j'] * 1e3:.1f} |"
            )
