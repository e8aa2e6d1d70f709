#!/usr/bin/env python3
"""Threads on one machine, measured, and several machines, projected: docs/scaling.md.

Reads the JSON of

    build/native/bench/bench_training_step --benchmark_filter='(threads|data_parallel)' \
        --benchmark_min_time=1 --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
        --benchmark_out=scaling.json --benchmark_out_format=json

prints the table of speedups (medians of the repetitions) and the projection of
data-parallel training over p machines, and draws docs/scaling.png (needs matplotlib:
Debian's python3-matplotlib).

The projection: a ring all-reduce of S gradient bytes over p machines takes
    T(p) = 2 (p - 1) / p * S / bandwidth + 2 (p - 1) * latency
(every machine sends and receives 2 (p - 1) / p of the gradient, in 2 (p - 1) steps).
A step whose compute t_c is not overlapped with it runs at efficiency t_c / (t_c + T),
so efficiency >= 80% needs t_c >= 4 T, i.e. a batch per machine of at least 4 T / c
for a compute time c per example.
"""

import argparse
import json
import math


def medians(path):
    with open(path) as f:
        runs = json.load(f)["benchmarks"]
    return {r["run_name"]: r for r in runs if r.get("aggregate_name") == "median"}


def speedup_table(rows):
    print("| case | batch | 1 thread (ms) | 2 threads (ms) | speedup | tapestry / floor, 2 threads |")
    print("|---|--:|--:|--:|--:|--:|")
    for name, r in rows.items():
        if "/threads/" not in name:
            continue
        model, precision, _, batch, _ = name.split("/", 4)
        print(f"| {model} {precision} threaded kernels | {batch.split(':')[1]} | {r['one_thread_ms/step']:.3f} | "
              f"{r['ms/step']:.3f} | {r['speedup']:.2f} | {r['ratio']:.2f} |")
    for name, r in rows.items():
        if "/data_parallel/" not in name:
            continue
        model, precision, _, batch, _ = name.split("/", 4)
        print(f"| {model} {precision} DataParallel, 2 replicas | {batch.split(':')[1]} | "
              f"{r['ms/step'] * r['speedup']:.3f} | {r['ms/step']:.3f} | {r['speedup']:.2f} | "
              f"(threaded kernels / replicas: {r['vs_threaded_kernels']:.2f}) |")


def ring_allreduce_seconds(p, gradient_bytes, bandwidth_bytes_per_second, latency_seconds):
    return 2 * (p - 1) / p * gradient_bytes / bandwidth_bytes_per_second + 2 * (p - 1) * latency_seconds


def projection(models, links, machines):
    print("| model | link | p | all-reduce (ms) | batch per machine for 80% | global batch |")
    print("|---|---|--:|--:|--:|--:|")
    for model, (gradient_bytes, seconds_per_example) in models.items():
        for link, (bandwidth, latency) in links.items():
            for p in machines:
                t = ring_allreduce_seconds(p, gradient_bytes, bandwidth, latency)
                batch = math.ceil(4 * t / seconds_per_example)
                print(f"| {model} | {link} | {p} | {1e3 * t:.2f} | {batch} | {p * batch} |")


def plot(rows, out):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [(n, r) for n, r in rows.items() if "/threads/" in n or "/data_parallel/" in n]
    labels = []
    values = []
    colours = []
    for name, r in cases:
        model, precision, kind, batch, _ = name.split("/", 4)
        labels.append(f"{model} {precision}\n{'replicas' if kind == 'data_parallel' else 'kernels'}, "
                      f"B={batch.split(':')[1]}")
        values.append(r["speedup"])
        colours.append("tab:orange" if kind == "data_parallel" else "tab:blue")
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.bar(range(len(values)), values, color=colours)
    ax.axhline(1.0, color="grey", linewidth=0.8)
    ax.axhline(2.0, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xticks(range(len(values)))
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("speedup, 2 threads over 1")
    ax.set_title("tapestry on 2 cores: a training step on two threads (blue: threaded kernels; "
                 "orange: nn::DataParallel)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="bench_training_step's --benchmark_out")
    parser.add_argument("--plot", default="docs/scaling.png")
    parser.add_argument("--lenet-ms-per-step", type=float, default=8.1,
                        help="examples/lenet's 'ms per step' at batch 64, one thread")
    args = parser.parse_args()
    rows = medians(args.json)
    speedup_table(rows)
    print()
    model_b_params = 784 * 1000 + 1000 * 500 + 500 * 250 + 250 * 30 + (1000 + 500 + 250 + 30) + (250 + 500 + 1000 + 784)
    lenet_params = (20 * 25 + 20) + (50 * 20 * 25 + 50) + (800 * 500 + 500) + (500 * 10 + 10)
    model_b = rows["ModelB/f32/threads/batch:256/threads:2/manual_time"]
    models = {
        f"Model B f32 ({model_b_params / 1e6:.2f} M params), 2 threads per machine":
            (4 * model_b_params, model_b["ms/step"] / 1e3 / 256),
        f"LeNet f32 ({lenet_params / 1e6:.2f} M params), 1 thread per machine":
            (4 * lenet_params, args.lenet_ms_per_step / 1e3 / 64),
    }
    links = {"10 Gbit/s, 25 us": (10e9 / 8, 25e-6), "100 Gbit/s, 5 us": (100e9 / 8, 5e-6)}
    projection(models, links, [2, 4, 8, 16, 32, 64])
    plot(rows, args.plot)
    print(f"\nwrote {args.plot}")


if __name__ == "__main__":
    main()
