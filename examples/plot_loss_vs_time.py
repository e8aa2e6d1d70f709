#!/usr/bin/env python3
"""Draws the test loss against training time of each optimizer in a loss_vs_time.csv
(examples/hessian_free_autoencoder writes one) as a PNG beside it, or at --png.
Needs matplotlib (Debian's python3-matplotlib).

    python3 examples/plot_loss_vs_time.py hessian_free_autoencoder_out/loss_vs_time.csv
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

LABELS = {"sgd": "SGD (Caffe's settings, fixed lr)", "hessian_free": "Hessian-free"}

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("csv", help="a loss_vs_time.csv: optimizer,seconds,steps,test_loss")
parser.add_argument("--png", help="where to write the plot (default: beside the CSV)")
parser.add_argument("--title", default="Deep tied autoencoder on Fashion-MNIST")
args = parser.parse_args()

runs = {}
with open(args.csv, newline="") as f:
    for row in csv.DictReader(f):
        runs.setdefault(row["optimizer"], []).append((float(row["seconds"]), float(row["test_loss"])))
if not runs:
    raise SystemExit(f"{args.csv}: no rows")

fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
for name, points in runs.items():
    seconds, losses = zip(*points)
    ax.plot(seconds, losses, marker="o", markersize=3, label=LABELS.get(name, name))
ax.set_xlabel("training time (s), test evaluations not counted")
ax.set_ylabel("test loss (cross-entropy per image)")
ax.set_yscale("log")
ax.set_title(args.title)
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()
png = args.png or os.path.join(os.path.dirname(os.path.abspath(args.csv)), "loss_vs_time.png")
fig.savefig(png)
print(f"wrote {png}")
