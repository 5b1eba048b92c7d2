"""PyTorch's bare training loop over N images (batch 32, Adam 1e-3, cross-entropy), the baseline of bench/epoch.ts.

Usage: python3 bench/pytorch_epoch.py C1 C2 HIDDEN CLASSES IMAGES THREADS EPOCHS
Prints one JSON line: {"epoch_seconds": [...]} (the first epoch is a warm-up and not printed).
"""
import json
import sys
import time

import torch
from torch import nn

from torch_cnn import Net

c1, c2, hidden, classes, images, threads, epochs = (int(v) for v in sys.argv[1:8])
torch.set_num_threads(threads)
torch.manual_seed(1)
x = torch.rand(images, 1, 28, 28) * 3 - 0.4
y = torch.randint(0, classes, (images,))
model = Net(c1, c2, hidden, classes).train()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
seconds = []
for epoch in range(epochs + 1):
    started = time.perf_counter()
    for start in range(0, images, 32):
        optimizer.zero_grad()
        loss = loss_fn(model(x[start:start + 32]), y[start:start + 32])
        loss.backward()
        optimizer.step()
    if epoch > 0:
        seconds.append(time.perf_counter() - started)
print(json.dumps({"epoch_seconds": seconds}))
