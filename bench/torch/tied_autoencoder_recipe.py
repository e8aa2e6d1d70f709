#!/usr/bin/python3
"""The tied autoencoder of examples/tied_autoencoder.cpp, same recipe, in PyTorch.

Caffe's recipe: 784-128-784 tied (the decoder uses W transposed), sigmoid hidden layer,
sigmoid cross-entropy on the logits summed over pixels and averaged over images,
W ~ gaussian(std 1) with Caffe's sparse 15 (each weight kept with probability 15/128),
biases 0, SGD lr 0.01 momentum 0.9 weight decay 5e-4 on W only, batch 100.
Prints the test reconstruction loss after each epoch, in the same unit as the example.

Usage: bench/torch/tied_autoencoder_recipe.py [--data DIR] [--epochs 5] [--seed 1]
Needs Debian's python3-torch and dataset-fashion-mnist (run with /usr/bin/python3).
"""
import argparse
import gzip
import os

import numpy as np
import torch


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    def images(name):
        return torch.from_numpy(read_idx(os.path.join(args.data, name)).reshape(-1, 784).astype(np.float32) / 255.0)

    train = images("train-images-idx3-ubyte.gz")
    test = images("t10k-images-idx3-ubyte.gz")

    W = torch.randn(128, 784) * (torch.rand(128, 784) < 15.0 / 128.0)
    W.requires_grad_(True)
    b1 = torch.zeros(128, requires_grad=True)
    b2 = torch.zeros(784, requires_grad=True)
    optimizer = torch.optim.SGD([{"params": [W], "weight_decay": 5e-4}, {"params": [b1, b2], "weight_decay": 0.0}],
                                lr=args.lr, momentum=0.9)

    def logits(x):  # x: B x 784, rows are examples
        h = torch.sigmoid(x @ W.t() + b1)
        return h @ W + b2

    def loss_sum(x):
        return torch.nn.functional.binary_cross_entropy_with_logits(logits(x), x, reduction="sum")

    for epoch in range(args.epochs):
        order = torch.randperm(train.shape[0])
        total = 0.0
        for start in range(0, train.shape[0], args.batch):
            x = train[order[start:start + args.batch]]
            loss = loss_sum(x) / x.shape[0]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item()
        with torch.no_grad():
            test_loss = sum(loss_sum(test[i:i + 1000]).item() for i in range(0, test.shape[0], 1000)) / test.shape[0]
        batches = (train.shape[0] + args.batch - 1) // args.batch
        print(f"epoch {epoch + 1}: train loss {total / batches:.4f}, test loss {test_loss:.4f}", flush=True)


if __name__ == "__main__":
    main()
