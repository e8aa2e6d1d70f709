#!/usr/bin/python3
"""The convolutional examples' recipes in PyTorch: examples/lenet.cpp and
examples/tied_conv_autoencoder.cpp, the same networks, initialisation rules, losses and
solvers, on Fashion-MNIST, one thread.

lenet: Caffe's LeNet (conv 20 5x5, max pool 2, conv 50 5x5, max pool 2, dense 500 ReLU,
  dense 10, softmax cross-entropy), Xavier weights (Caffe's: uniform, fan-in), zero
  biases with lr x2, SGD lr 0.01 momentum 0.9 weight decay 5e-4, Caffe's inv policy
  (gamma 1e-4, power 0.75), inputs scaled by 1/256, batch 64. Prints test accuracy.
tied_conv_autoencoder: conv 1->32 and 32->64 (5x5, stride 2, padding 2) with sigmoid,
  decoder the two transposed convolutions with the same weights (sigmoid between),
  per-channel biases, sigmoid cross-entropy summed over pixels and averaged over images,
  Xavier kernels, SGD lr 0.001 momentum 0.9 weight decay 5e-4 on the kernels, batch 64.
  Prints the test loss.

Each epoch's line gives ms per training step (zero_grad, forward, backward, step), the
OpenBLAS core and whether oneDNN (mkldnn) runs the convolutions (--mkldnn off to compare).
Usage: bench/torch/conv_recipes.py lenet|tied_conv_autoencoder [--epochs 5] [--seed 1]
       [--data DIR] [--limit N] [--mkldnn on|off]
Needs Debian's python3-torch and dataset-fashion-mnist (run with /usr/bin/python3).
"""
import argparse
import math
import os
import sys
import time

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tied_autoencoder_recipe import read_idx  # noqa: E402
from training_step import openblas_core  # noqa: E402


def xavier(*shape, fan_in):
    a = math.sqrt(3.0 / fan_in)
    return (torch.rand(*shape) * 2 - 1) * a


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", choices=["lenet", "tied_conv_autoencoder"])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--mkldnn", choices=["on", "off"], default="on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    torch.backends.mkldnn.enabled = args.mkldnn == "on"

    def load(name, labels=False):
        data = read_idx(os.path.join(args.data, name))
        if args.limit:
            data = data[:args.limit]
        if labels:
            return torch.from_numpy(data.astype("int64"))
        return torch.from_numpy(data.reshape(-1, 1, 28, 28).astype("float32") / 255.0)

    train, test = load("train-images-idx3-ubyte.gz"), load("t10k-images-idx3-ubyte.gz")
    train_labels, test_labels = load("train-labels-idx1-ubyte.gz", True), load("t10k-labels-idx1-ubyte.gz", True)

    if args.recipe == "lenet":
        train, test = train * (255.0 / 256.0), test * (255.0 / 256.0)
        K1, K2 = xavier(20, 1, 5, 5, fan_in=25), xavier(50, 20, 5, 5, fan_in=500)
        W3, W4 = xavier(500, 800, fan_in=800), xavier(10, 500, fan_in=500)
        weights = [K1, K2, W3, W4]
        biases = [torch.zeros(20), torch.zeros(50), torch.zeros(500), torch.zeros(10)]
        for p in weights + biases:
            p.requires_grad_(True)
        b1, b2, b3, b4 = biases
        lr = 0.01
        optimizer = torch.optim.SGD([{"params": weights, "lr": lr}, {"params": biases, "lr": 2 * lr}], lr=lr,
                                    momentum=0.9, weight_decay=5e-4)
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: (1 + 1e-4 * it) ** -0.75)

        def logits(x):
            h = F.max_pool2d(F.conv2d(x, K1, b1), 2)
            h = F.max_pool2d(F.conv2d(h, K2, b2), 2)
            return F.linear(F.relu(F.linear(h.flatten(1), W3, b3)), W4, b4)

        def batch_loss(x, y):
            return F.cross_entropy(logits(x), y)
    else:
        K1, K2 = xavier(32, 1, 5, 5, fan_in=25), xavier(64, 32, 5, 5, fan_in=800)
        biases = [torch.zeros(32), torch.zeros(64), torch.zeros(32), torch.zeros(1)]
        for p in [K1, K2] + biases:
            p.requires_grad_(True)
        e1, e2, d2, d1 = biases
        optimizer = torch.optim.SGD([{"params": [K1, K2], "weight_decay": 5e-4},
                                     {"params": biases, "weight_decay": 0.0}], lr=0.001, momentum=0.9)
        schedule = None

        def logits(x):
            h1 = torch.sigmoid(F.conv2d(x, K1, e1, stride=2, padding=2))
            h2 = torch.sigmoid(F.conv2d(h1, K2, e2, stride=2, padding=2))
            g1 = torch.sigmoid(F.conv_transpose2d(h2, K2, d2, stride=2, padding=2, output_padding=1))
            return F.conv_transpose2d(g1, K1, d1, stride=2, padding=2, output_padding=1)

        def batch_loss(x, y):
            return F.binary_cross_entropy_with_logits(logits(x), x, reduction="sum") / x.shape[0]

    for epoch in range(args.epochs):
        order = torch.randperm(train.shape[0])
        total, steps, seconds = 0.0, 0, 0.0
        for start in range(0, train.shape[0], args.batch):
            index = order[start:start + args.batch]
            began = time.perf_counter()
            loss = batch_loss(train[index], train_labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if schedule:
                schedule.step()
            seconds += time.perf_counter() - began
            total += loss.item()
            steps += 1
        with torch.no_grad():
            test_loss, correct = 0.0, 0
            for i in range(0, test.shape[0], 1000):
                x, y = test[i:i + 1000], test_labels[i:i + 1000]
                out = logits(x)
                if args.recipe == "lenet":
                    test_loss += F.cross_entropy(out, y, reduction="sum").item()
                    correct += (out.argmax(1) == y).sum().item()
                else:
                    test_loss += F.binary_cross_entropy_with_logits(out, x, reduction="sum").item()
        line = f"epoch {epoch + 1}: train loss {total / steps:.4f}, test loss {test_loss / test.shape[0]:.4f}"
        if args.recipe == "lenet":
            line += f", test accuracy {100.0 * correct / test.shape[0]:.2f}%"
        print(f"{line}, {1e3 * seconds / steps:.2f} ms per step (OpenBLAS core {openblas_core()}, "
              f"oneDNN {'on' if torch.backends.mkldnn.enabled else 'off'})", flush=True)


if __name__ == "__main__":
    main()
