"""The SPEC's CNN in PyTorch predicting one image: the baseline `npm run bench:predict` times our predict against.

Usage (Debian: apt-get install -y python3-torch python3-pil):
    python3 bench/pytorch_predict.py WEIGHTS_DIR IMAGE

WEIGHTS_DIR, written by bench/predict.ts from one of our checkpoints:
    meta.json      {"mean", "std", "classes": [0, 5, 8], "tensors": {name: shape}}
    NAME.f32       each tensor, float32 little-endian, in our TensorFlow layouts
                   (HWIO conv kernels, [in, out] dense kernel flattened from NHWC)

What the original tool's predict did: PIL opens the image, converts it to 8-bit
grayscale, resizes it to 28x28 (no inversion, no cropping), scales to [0, 1],
normalises with the checkpoint's statistics, and prints one JSON line
{"probs": {"0": p0, "5": p5, "8": p8}, "prediction": label}.
"""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

from torch_cnn import Cnn


def load_model(weights_dir: str) -> tuple[Cnn, dict]:
    with open(os.path.join(weights_dir, "meta.json")) as f:
        meta = json.load(f)

    def tensor(name: str) -> np.ndarray:
        shape = meta["tensors"][name]
        return np.fromfile(os.path.join(weights_dir, f"{name}.f32"), dtype="<f4").reshape(shape)

    state = {}
    for i, (conv, bn) in enumerate([("conv1", "bn1"), ("conv2", "bn2")]):
        conv_index, bn_index = 4 * i, 4 * i + 1
        state[f"features.{conv_index}.weight"] = tensor(f"{conv}.kernel").transpose(3, 2, 0, 1)  # HWIO -> OIHW
        state[f"features.{conv_index}.bias"] = tensor(f"{conv}.bias")
        state[f"features.{bn_index}.weight"] = tensor(f"{bn}.gamma")
        state[f"features.{bn_index}.bias"] = tensor(f"{bn}.beta")
        state[f"features.{bn_index}.running_mean"] = tensor(f"{bn}.movingMean")
        state[f"features.{bn_index}.running_var"] = tensor(f"{bn}.movingVariance")
        state[f"features.{bn_index}.num_batches_tracked"] = np.array(0, dtype=np.int64)
    # Our dense rows follow NHWC flattening (h, w, c); PyTorch flattens NCHW (c, h, w).
    kernel = tensor("dense.kernel").reshape(7, 7, 32, 3)
    state["dense.weight"] = kernel.transpose(3, 2, 0, 1).reshape(3, 32 * 7 * 7)
    state["dense.bias"] = tensor("dense.bias")

    model = Cnn()
    model.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()})
    model.eval()
    return model, meta


def main() -> None:
    weights_dir, image_path = sys.argv[1], sys.argv[2]
    model, meta = load_model(weights_dir)
    image = Image.open(image_path).convert("L").resize((28, 28), Image.BILINEAR)
    x = (np.asarray(image, dtype=np.float32) / 255.0 - meta["mean"]) / meta["std"]
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy(x).reshape(1, 1, 28, 28)), dim=1)[0].tolist()
    classes = meta["classes"]
    best = max(range(len(classes)), key=lambda c: probs[c])
    print(json.dumps({"probs": {str(label): p for label, p in zip(classes, probs)}, "prediction": classes[best]}))


if __name__ == "__main__":
    main()
