"""The SPEC's CNN and training recipe in PyTorch, the baseline the tfjs engine is timed against.

Usage (Debian: apt-get install -y python3-torch):
    python3 bench/pytorch_train.py DATA_DIR [--threads 2]

DATA_DIR, written by a JS bench:
    train_x.f32, val_x.f32   N x 784 float32 little-endian, already normalised
    train_y.u8,  val_y.u8    class indices 0..2 (labels 0, 5, 8), one byte each
    meta.json                {"epochs", "batchSize", "learningRate", "seed", "classWeights": [w0, w5, w8]}
                             and optionally "logitOffsets": [o0, o5, o8] (train --loss logit-adjusted:
                             unweighted cross-entropy of logits + offsets; prediction uses the raw logits),
                             "network": {"c1", "c2", "hidden", "dropout"} (train --model; without it the SPEC CNN),
                             "patience" (early stopping, default 3), "augment": {"rotationDegrees", "scale",
                             "shiftPixels", "fill"} (train --augment: a fresh random affine per image and epoch,
                             bilinear, outside the image reads "fill", the normalised background)
    eval_x.f32, test_x.f32   optional: scored with the best-validation model

Prints one JSON line: {"eval_f1_macro", "test_f1_macro" (best-validation model on eval_x / test_x when present), "threads", "epoch_seconds": [...] (training and validation), "ms_per_step", "val_f1_macro", "epochs"}.
Recipe: class-weighted cross-entropy, Adam, ReduceLROnPlateau(max, 0.5, 2) and
early stopping (patience 3) on validation macro-F1.
"""
import argparse
import copy
import json
import os
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from torch_cnn import Cnn, Net


def load(data_dir: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.fromfile(os.path.join(data_dir, f"{split}_x.f32"), dtype="<f4").reshape(-1, 1, 28, 28)
    y = np.fromfile(os.path.join(data_dir, f"{split}_y.u8"), dtype=np.uint8).astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


def augment(x: torch.Tensor, ranges: dict, generator: torch.Generator) -> torch.Tensor:
    """A random rotation, scale and shift per image about the centre, as src/data/augment.ts draws them."""
    n = x.shape[0]

    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(n, generator=generator) * 2 - 1) * limit

    angle = uniform(ranges["rotationDegrees"]) * (np.pi / 180)
    scale = 1 + uniform(ranges["scale"])
    # Shifts in pixels become normalised coordinates (align_corners: 27 pixels span 2).
    dx, dy = uniform(ranges["shiftPixels"]) * (2 / 27), uniform(ranges["shiftPixels"]) * (2 / 27)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # Output position -> source position: R(-angle)/scale applied to (p - shift).
    theta = torch.stack([
        torch.stack([cos, sin, -(cos * dx + sin * dy)], 1),
        torch.stack([-sin, cos, sin * dx - cos * dy], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    fill = ranges["fill"]
    return F.grid_sample(x - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=True) + fill


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int = 3) -> float:
    scores = []
    for c in range(classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        denominator = 2 * tp + fp + fn
        scores.append(0.0 if denominator == 0 else 2 * tp / denominator)
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with open(os.path.join(args.data_dir, "meta.json")) as f:
        meta = json.load(f)

    torch.set_num_threads(args.threads)
    torch.manual_seed(meta["seed"])
    train_x, train_y = load(args.data_dir, "train")
    val_x, val_y = load(args.data_dir, "val")
    classes = len(meta["classWeights"])
    network = meta.get("network")
    model = Cnn() if network is None else Net(network["c1"], network["c2"], network["hidden"], classes, network.get("dropout", 0.5))
    patience = meta.get("patience", 3)
    ranges = meta.get("augment")
    offsets = meta.get("logitOffsets")
    if offsets is None:
        loss_fn = nn.CrossEntropyLoss(weight=torch.tensor(meta["classWeights"], dtype=torch.float32))
    else:
        shift = torch.tensor(offsets, dtype=torch.float32)
        plain = nn.CrossEntropyLoss()
        loss_fn = lambda logits, y: plain(logits + shift, y)
    optimizer = torch.optim.Adam(model.parameters(), lr=meta["learningRate"])
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="max", factor=0.5, patience=2)
    batch = meta["batchSize"]
    generator = torch.Generator().manual_seed(meta["seed"])

    epoch_seconds: list[float] = []
    steps = 0
    best, since_best, f1 = -1.0, 0, 0.0
    best_state = copy.deepcopy(model.state_dict())
    for _ in range(meta["epochs"]):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_y), generator=generator)
        for i in range(0, len(order), batch):
            index = order[i : i + batch]
            optimizer.zero_grad()
            x = train_x[index] if ranges is None else augment(train_x[index], ranges, generator)
            loss = loss_fn(model(x), train_y[index])
            loss.backward()
            optimizer.step()
            steps += 1

        # Validation is part of the epoch, as in Lightning and in the tfjs trainer's epoch time.
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(val_x[i : i + 256]).argmax(1) for i in range(0, len(val_y), 256)])
        f1 = macro_f1(val_y.numpy(), predicted.numpy(), classes)
        epoch_seconds.append(time.perf_counter() - start)
        scheduler.step(f1)
        if f1 > best:
            best, since_best = f1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= patience:
                break

    # The best validation model on the held-out splits, as the tfjs trainer reports it.
    model.load_state_dict(best_state)
    model.eval()
    scores = {}
    for split in ("eval", "test"):
        if not os.path.exists(os.path.join(args.data_dir, f"{split}_x.f32")):
            scores[split] = None
            continue
        x, y = load(args.data_dir, split)
        with torch.no_grad():
            predicted = torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, len(y), 256)])
        scores[split] = round(macro_f1(y.numpy(), predicted.numpy(), classes), 4)

    print(json.dumps({
        "eval_f1_macro": scores["eval"],
        "test_f1_macro": scores["test"],
        "threads": args.threads,
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
        "ms_per_step": round(1000 * sum(epoch_seconds) / max(steps, 1), 3),
        "val_f1_macro": round(f1, 4),
        "epochs": len(epoch_seconds),
    }))


if __name__ == "__main__":
    main()
