#!/usr/bin/python3
"""Runs the training-step benchmarks of tapestry, hand-written Eigen and PyTorch; prints one table.

Builds bench_training_step three times (Release, -march=native): with Eigen's own
products, and with Eigen's products routed to OpenBLAS (TAPESTRY_BLAS=OpenBLAS) and to
BLIS (TAPESTRY_BLAS=FLAME). Each build times tapestry and its hand-written twin
alternately in one run (the `ratio` benchmarks). Every table names the kernels its run
used: Eigen's SIMD, OpenBLAS's core, BLIS's sub-configuration.
PyTorch (bench/torch/training_step.py, one thread) runs twice: with OPENBLAS_CORETYPE as
this machine exports it and with it unset (OpenBLAS then picks the kernels for this CPU);
its better time per cell is the one compared. The OpenBLAS runs of tapestry use the
unset variable too. Every run's OpenBLAS core is printed.

Usage: bench/compare.py [--min-time 0.5] [--skip-build] [--json out.json] [--plot out.png]
Needs cmake, g++, Google Benchmark, OpenBLAS (libopenblas-dev), BLIS (libblis-dev), python3-torch, and
python3-matplotlib for --plot. Run with /usr/bin/python3 (Debian's torch).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILDS = {"eigen": [], "openblas": ["-DTAPESTRY_BLAS=OpenBLAS"], "blis": ["-DTAPESTRY_BLAS=FLAME"]}
CELLS = [(model, dtype, batch) for model in "AB" for dtype in ("f32", "f64") for batch in (1, 64, 256)]


def env_without_coretype():
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    return env


def build(name, flags):
    directory = os.path.join(ROOT, "build", "bench-" + name)
    subprocess.run(["cmake", "-S", ROOT, "-B", directory, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                    "-DTAPESTRY_NATIVE=ON", "-DTAPESTRY_BUILD_TESTS=OFF", "-DTAPESTRY_BUILD_EXAMPLES=OFF", *flags],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", directory, "--target", "bench_training_step"], check=True, stdout=sys.stderr)
    return os.path.join(directory, "bench", "bench_training_step")


def run_tapestry(binary, min_time):
    """{(model, dtype, batch): (tapestry ms, hand-written ms)} and the run's `products` context."""
    out = subprocess.run([binary, "--benchmark_filter=^Model[AB]/f(32|64)/ratio/", "--benchmark_format=json",
                          f"--benchmark_min_time={min_time}"],
                         check=True, capture_output=True, text=True, env=env_without_coretype()).stdout
    report = json.loads(out)
    cells = {}
    for b in report["benchmarks"]:
        model, dtype, _, batch = b["name"].split("/")[:4]
        cells[(model[-1], dtype, int(batch))] = (b["ms/step"], b["hand_ms/step"])
    context = report["context"]
    products = context.get("products", "?")
    if products == "Eigen":
        products = "Eigen's own products"
    return cells, f"{products} (Eigen SIMD: {context.get('simd', '?')})"


def run_torch(min_time, keep_coretype):
    env = dict(os.environ) if keep_coretype else env_without_coretype()
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "torch", "training_step.py"),
                          "--min-time", str(min_time * 5)], check=True, capture_output=True, text=True, env=env).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {(r["model"], r["dtype"], r["batch"]): r["ms"] for r in rows}, rows[0]["openblas_core"], rows[0]["torch"]


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 4, figsize=(16, 4.2))
    series = [("tapestry", "eigen", 0, "C0", "-"), ("hand-written Eigen", "eigen", 1, "C1", "--"),
              ("tapestry + OpenBLAS", "openblas", 0, "C2", "-"), ("hand-written + OpenBLAS", "openblas", 1, "C3", "--"),
              ("tapestry + BLIS", "blis", 0, "C5", "-"), ("hand-written + BLIS", "blis", 1, "C6", "--")]
    for ax, (model, dtype) in zip(axes, [("A", "f32"), ("A", "f64"), ("B", "f32"), ("B", "f64")]):
        batches = [1, 64, 256]
        for label, backend, column, color, style in series:
            ax.plot(batches, [results[backend][(model, dtype, b)][column] for b in batches], style, color=color,
                    marker="o", label=label)
        ax.plot(batches, [results["torch"][(model, dtype, b)] for b in batches], ":", color="C4", marker="s",
                label="PyTorch 1.13 (best core)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(batches, [str(b) for b in batches])
        ax.set_xlabel("batch size")
        ax.set_title(f"Model {model}, {'float' if dtype == 'f32' else 'double'}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms per training step (one thread)")
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per benchmark (Google Benchmark's)")
    parser.add_argument("--skip-build", action="store_true", help="use build/bench-{eigen,openblas,blis} as they are")
    parser.add_argument("--json", help="also write the measurements here")
    parser.add_argument("--plot", help="also draw ms/step against batch size into this PNG")
    args = parser.parse_args()

    results, products = {}, {}
    for name, flags in BUILDS.items():
        binary = (os.path.join(ROOT, "build", "bench-" + name, "bench", "bench_training_step") if args.skip_build
                  else build(name, flags))
        print(f"running {binary} ...", file=sys.stderr)
        results[name], products[name] = run_tapestry(binary, args.min_time)
    print("running bench/torch/training_step.py twice ...", file=sys.stderr)
    torch_pinned, pinned_core, torch_version = run_torch(args.min_time, keep_coretype=True)
    torch_native, native_core, _ = run_torch(args.min_time, keep_coretype=False)
    results["torch"] = {cell: min(torch_pinned[cell], torch_native[cell]) for cell in CELLS}

    print(f"PyTorch {torch_version}: OpenBLAS core {pinned_core} (OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE', '')}) and {native_core} (unset); the better time is compared")
    for backend in BUILDS:
        print(f"\n{products[backend]}" + (", OPENBLAS_CORETYPE unset" if backend == "openblas" else "") + "\n")
        print(f"| model | dtype | B | hand-written ms | tapestry ms | tapestry / hand | PyTorch ms ({pinned_core} / "
              f"{native_core}) | tapestry / PyTorch |")
        print("|---|---|--:|--:|--:|--:|--:|--:|")
        for cell in CELLS:
            ours, hand = results[backend][cell]
            model, dtype, batch = cell
            print(f"| {model} | {dtype} | {batch} | {hand:.3f} | {ours:.3f} | {ours / hand:.3f} "
                  f"| {torch_pinned[cell]:.3f} / {torch_native[cell]:.3f} | {ours / results['torch'][cell]:.2f} |")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"products": products, "torch_cores": [pinned_core, native_core],
                       "cells": [{"model": m, "dtype": d, "batch": b,
                                  **{f"{key}_ms": results[backend][(m, d, b)][column]
                                     for backend in BUILDS
                                     for key, column in ((f"tapestry_{backend}", 0), (f"hand_{backend}", 1))},
                                  "torch_pinned_ms": torch_pinned[(m, d, b)],
                                  "torch_native_ms": torch_native[(m, d, b)]} for m, d, b in CELLS]}, f, indent=1)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
