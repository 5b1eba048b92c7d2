"""The SPEC's CNN and training recipe in PyTorch, the baseline the tfjs engine is timed against.

Usage (Debian: apt-get install -y python3-torch):
    python3 bench/pytorch_train.py DATA_DIR [--threads 2]

DATA_DIR, written by a JS bench:
    train_x.f32, val_x.f32   N x 784 float32 little-endian, already normalised
    train_y.u8,  val_y.u8    class indices 0..2 (labels 0, 5, 8), one byte each
    meta.json                {"epochs", "batchSize", "learningRate", "seed", "classWeights": [w0, w5, w8]}
                             and optionally "logitOffsets": [o0, o5, o8] (train --loss logit-adjusted:
                             unweighted cross-entropy of logits + offsets; prediction uses the raw logits)

Prints one JSON line: {"evalF1Macro" (best-validation model on eval_x/eval_y when present), "threads", "epochSeconds": [...] (training and validation), "msPerStep", "valF1Macro", "epochs"}.
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

from torch_cnn import Cnn


def load(data_dir: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.fromfile(os.path.join(data_dir, f"{split}_x.f32"), dtype="<f4").reshape(-1, 1, 28, 28)
    y = np.fromfile(os.path.join(data_dir, f"{split}_y.u8"), dtype=np.uint8).astype(np.int64)
    return torch.from_numpy(x.copy()), torch.from_numpy(y)


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
    model = Cnn()
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
            loss = loss_fn(model(train_x[index]), train_y[index])
            loss.backward()
            optimizer.step()
            steps += 1

        # Validation is part of the epoch, as in Lightning and in the tfjs trainer's epoch time.
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(val_x[i : i + 256]).argmax(1) for i in range(0, len(val_y), 256)])
        f1 = macro_f1(val_y.numpy(), predicted.numpy())
        epoch_seconds.append(time.perf_counter() - start)
        scheduler.step(f1)
        if f1 > best:
            best, since_best = f1, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
            if since_best >= 3:
                break

    # The best validation model on the held-out evaluation split, as the tfjs trainer reports it.
    eval_f1 = None
    if os.path.exists(os.path.join(args.data_dir, "eval_x.f32")):
        eval_x, eval_y = load(args.data_dir, "eval")
        model.load_state_dict(best_state)
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(eval_x[i : i + 256]).argmax(1) for i in range(0, len(eval_y), 256)])
        eval_f1 = round(macro_f1(eval_y.numpy(), predicted.numpy()), 4)

    print(json.dumps({
        "evalF1Macro": eval_f1,
        "threads": args.threads,
        "epochSeconds": [round(s, 4) for s in epoch_seconds],
        "msPerStep": round(1000 * sum(epoch_seconds) / max(steps, 1), 3),
        "valF1Macro": round(f1, 4),
        "epochs": len(epoch_seconds),
    }))


if __name__ == "__main__":
    main()
