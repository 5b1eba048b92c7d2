"""The SPEC's CNN in PyTorch, shared by the PyTorch side of the benchmarks."""
import torch
from torch import nn


class Cnn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.dense = nn.Linear(32 * 7 * 7, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.flatten(self.features(x), 1))


class Net(nn.Module):
    """Any network of src/architecture.ts's presets: two conv blocks, an optional hidden layer with dropout, K outputs."""

    def __init__(self, c1: int, c2: int, hidden: int, classes: int, dropout: float = 0.5) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.BatchNorm2d(c1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),
        )
        head = [nn.Linear(c2 * 7 * 7, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes)] if hidden else [nn.Linear(c2 * 7 * 7, classes)]
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))
