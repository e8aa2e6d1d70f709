#!/usr/bin/python3
"""The MLP classifier of examples/mlp_classifier.cpp, same recipe, in PyTorch.

784-512-256-10: each hidden layer Linear, LayerNorm (or none), ReLU, Dropout(0.2); then
log_softmax and nll_loss (mean over the batch). Weights: He gaussian (std sqrt(2/fan_in))
for the hidden layers, Caffe's Xavier (uniform +-sqrt(3/fan_in)) for the last; biases 0,
LayerNorm scale 1 and shift 0. Adam lr 1e-3, batch 128, shuffled each epoch, pixels in [0, 1].
Prints, per epoch, the train loss, test loss, test accuracy and the epoch's training time.

Usage: bench/torch/mlp_classifier_recipe.py [--data DIR] [--epochs 10] [--seed 1]
                                            [--norm layer|none] [--threads 1]
Needs Debian's python3-torch and dataset-fashion-mnist (run with /usr/bin/python3), and
OpenBLAS (libopenblas0): without it libblas.so.3 is the reference BLAS, and the core
printed first reads "not OpenBLAS". One thread by default, with the OpenBLAS core it picks
for this CPU; OPENBLAS_CORETYPE pins another (docs/performance.md compares them).
"""
import argparse
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from tied_autoencoder_recipe import read_idx  # noqa: E402
from training_step import openblas_core  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.2)
    parser.add_argument("--norm", choices=["layer", "none"], default="layer")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    print(f"torch {torch.__version__}, {args.threads} thread(s), OpenBLAS core {openblas_core()}", flush=True)

    def load(images, labels):
        x = read_idx(os.path.join(args.data, images)).reshape(-1, 784).astype(np.float32) / 255.0
        y = read_idx(os.path.join(args.data, labels)).astype(np.int64)
        return torch.from_numpy(x), torch.from_numpy(y)

    train_x, train_y = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    test_x, test_y = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

    def linear(fan_in, fan_out, last):
        layer = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            if last:
                bound = (3.0 / fan_in) ** 0.5
                layer.weight.uniform_(-bound, bound)
            else:
                layer.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
            layer.bias.zero_()
        return layer

    def hidden(fan_in, fan_out):
        norm = [torch.nn.LayerNorm(fan_out)] if args.norm == "layer" else []
        return [linear(fan_in, fan_out, False), *norm, torch.nn.ReLU(), torch.nn.Dropout(args.dropout)]

    model = torch.nn.Sequential(*hidden(784, 512), *hidden(512, 256), linear(256, 10, True),
                                torch.nn.LogSoftmax(dim=1))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)

    for epoch in range(args.epochs):
        model.train()
        started = time.perf_counter()
        order = torch.randperm(train_x.shape[0], generator=generator)
        total, batches = 0.0, 0
        for first in range(0, train_x.shape[0], args.batch):
            index = order[first:first + args.batch]
            optimizer.zero_grad()
            loss = torch.nn.functional.nll_loss(model(train_x[index]), train_y[index])
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        seconds = time.perf_counter() - started
        model.eval()
        with torch.no_grad():
            log_probs = model(test_x)
            test_loss = torch.nn.functional.nll_loss(log_probs, test_y).item()
            accuracy = (log_probs.argmax(dim=1) == test_y).double().mean().item()
        print(f"epoch {epoch + 1}: train loss {total / batches:.4f}, test loss {test_loss:.4f}, "
              f"test accuracy {100 * accuracy:.2f}%, {seconds:.1f} s", flush=True)


if __name__ == "__main__":
    main()
