#!/usr/bin/env python3
"""Model B f32 on two MPI ranks against one process, on this machine: docs/scaling.md.

Runs bench_mpi_step three times, under mpirun (as root, pass --allow-run-as-root:
it is passed on to mpirun),

    1 process, 1 thread      TAPESTRY_NUM_THREADS=1 mpirun -np 1 bench_mpi_step
    1 process, 2 threads     TAPESTRY_NUM_THREADS=2 mpirun --bind-to none -np 1 bench_mpi_step
    2 ranks, 1 thread each   TAPESTRY_NUM_THREADS=1 mpirun -np 2 bench_mpi_step

each with --benchmark_repetitions (medians), and prints the table of ms per step
and the speedups against 1 process on 1 thread, with the gradients' sum alone.

    /usr/bin/python3 bench/mpi_scaling.py build/native/bench/bench_mpi_step --allow-run-as-root
"""

import argparse
import json
import os
import subprocess
import tempfile

# mpirun binds each rank to one core by default (2 ranks or fewer): the run on 2
# threads must say --bind-to none, or its threads share one core.
RUNS = [("1 process, 1 thread", 1, 1, []), ("1 process, 2 threads", 1, 2, ["--bind-to", "none"]),
        ("2 ranks, 1 thread each", 2, 1, [])]


def run(binary, ranks, threads, repetitions, mpirun_flags):
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = dict(os.environ, TAPESTRY_NUM_THREADS=str(threads))
        done = subprocess.run(["mpirun", *mpirun_flags, "-np", str(ranks), binary,
                        f"--benchmark_repetitions={repetitions}", "--benchmark_report_aggregates_only=true",
                        f"--benchmark_out={out.name}", "--benchmark_out_format=json"],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"mpirun -np {ranks} {binary} failed:\n{done.stdout}{done.stderr}")
        runs = json.load(open(out.name))["benchmarks"]
    return {r["run_name"].split("/iterations")[0]: r["real_time"] for r in runs if r.get("aggregate_name") == "median"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--allow-run-as-root", action="store_true")
    args = parser.parse_args()
    flags = ["--allow-run-as-root"] if args.allow_run_as_root else []
    results = [(label, run(args.binary, ranks, threads, args.repetitions, flags + more))
               for label, ranks, threads, more in RUNS]

    steps = [name for name in results[0][1] if name.startswith("mpi_step/")]
    print("| Model B f32, batch | " + " | ".join(f"{label} (ms)" for label, _ in results) +
          " | speedup, 2 threads | speedup, 2 ranks |")
    print("|--:|" + "--:|" * (len(results) + 2))
    for name in steps:
        times = [r[name] for _, r in results]
        print(f"| {name.split('/')[-1]} | " + " | ".join(f"{t:.2f}" for t in times) +
              f" | {times[0] / times[1]:.2f} | {times[0] / times[2]:.2f} |")
    total = "mpi_sum_gradients/model_b/f32"
    print(f"\nThe gradients' sum alone (5.7 MB): {results[2][1][total]:.2f} ms on 2 ranks "
          f"({results[0][1][total]:.3f} ms on one, where it copies nothing).")


if __name__ == "__main__":
    main()
