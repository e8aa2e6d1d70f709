#!/usr/bin/python3
"""Model A and Model B training steps in PyTorch, timed the way bench/bench_training_step.cpp times tapestry.

Model A: tied autoencoder 784-128-784 (sigmoid hidden layer; the decoder is W transposed).
Model B: Caffe's mnist_autoencoder, tied: 784-1000-500-250-30 (sigmoid on all but the
linear code), decoder 30-250-500-1000-784 with the four matrices transposed.
Both: sigmoid cross-entropy on the logits summed over pixels and averaged over the batch;
SGD with momentum 0.9 and weight decay 5e-4 on the matrices (not the biases), lr 0.01.
One step = zero_grad + forward + backward + optimizer step, one thread.

Prints one JSON object per line: model, dtype, batch, ms (median over repetitions of the
mean step time), and the OpenBLAS core the process uses.
Usage: bench/torch/training_step.py [--models A,B] [--dtypes f32,f64] [--batches 1,64,256]
                                    [--min-time 0.5] [--repetitions 5]
Needs Debian's python3-torch (run with /usr/bin/python3).
"""
import argparse
import ctypes
import json
import os
import time

# One thread everywhere: torch.set_num_threads does not reach the OpenBLAS that Debian's
# torch calls through libblas.so.3, which would otherwise start a thread per core.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
import torch  # noqa: E402  (after the thread settings, which it reads when loaded)

WIDTHS = {"A": [784, 128], "B": [784, 1000, 500, 250, 30]}


def openblas_core():
    """The OpenBLAS kernel set this process uses (OPENBLAS_CORETYPE may pin it)."""
    with open("/proc/self/maps") as maps:
        libraries = {line.split()[-1] for line in maps if "blas" in line and line.rstrip().endswith(".so.3")}
    for path in sorted(libraries):
        try:
            corename = ctypes.CDLL(path).openblas_get_corename
        except (OSError, AttributeError):
            continue
        corename.restype = ctypes.c_char_p
        return corename().decode()
    return "not OpenBLAS"


class TiedAutoencoder:
    """Rows are examples (PyTorch's layout); the code layer is linear, the others sigmoid."""

    def __init__(self, widths, dtype, generator):
        self.weights = [torch.randn(widths[i + 1], widths[i], dtype=dtype, generator=generator) / widths[i] ** 0.5
                        for i in range(len(widths) - 1)]
        self.encoder_biases = [torch.zeros(w, dtype=dtype) for w in widths[1:]]
        self.decoder_biases = [torch.zeros(w, dtype=dtype) for w in widths[:-1]]
        for p in self.parameters():
            p.requires_grad_(True)
        self.linear_code = len(widths) > 2

    def parameters(self):
        return self.weights + self.encoder_biases + self.decoder_biases

    def logits(self, x):
        h = x
        last = len(self.weights) - 1
        for i, (W, b) in enumerate(zip(self.weights, self.encoder_biases)):
            h = torch.addmm(b, h, W.t())
            if not (self.linear_code and i == last):
                h = torch.sigmoid(h)
        for i in reversed(range(len(self.weights))):
            h = torch.addmm(self.decoder_biases[i], h, self.weights[i])
            if i > 0:
                h = torch.sigmoid(h)
        return h


def time_steps(model_name, dtype, batch, min_time, repetitions):
    generator = torch.Generator().manual_seed(5)
    model = TiedAutoencoder(WIDTHS[model_name], dtype, generator)
    x = torch.rand(batch, 784, dtype=dtype, generator=generator)
    optimizer = torch.optim.SGD([{"params": model.weights, "weight_decay": 5e-4},
                                 {"params": model.encoder_biases + model.decoder_biases, "weight_decay": 0.0}],
                                lr=0.01, momentum=0.9)

    def step():
        optimizer.zero_grad(set_to_none=False)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(x), x, reduction="sum") / batch
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up: allocator caches, momentum buffers
        step()
    means = []
    for _ in range(repetitions):
        steps, start = 0, time.perf_counter()
        while True:
            step()
            steps += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time / repetitions and steps >= 3:
                break
        means.append(elapsed / steps)
    means.sort()
    return 1e3 * means[len(means) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="A,B")
    parser.add_argument("--dtypes", default="f32,f64")
    parser.add_argument("--batches", default="1,64,256")
    parser.add_argument("--min-time", type=float, default=2.5, help="seconds per cell, over all repetitions")
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    core = openblas_core()
    dtypes = {"f32": torch.float32, "f64": torch.float64}
    for model in args.models.split(","):
        for dtype in args.dtypes.split(","):
            for batch in map(int, args.batches.split(",")):
                ms = time_steps(model, dtypes[dtype], batch, args.min_time, args.repetitions)
                print(json.dumps({"model": model, "dtype": dtype, "batch": batch, "ms": ms,
                                  "torch": torch.__version__, "openblas_core": core}), flush=True)


if __name__ == "__main__":
    main()
