"""Shared by the train / evaluate / predict tests: a small PNG folder and a trained model."""

import os

import numpy as np
from PIL import Image

RNG = np.random.default_rng(0)


def png_folder(root, per_class=(24, 8), size=12, nested=True):
    """Two classes of striped grey PNGs (class 0 bright on the left, class 1 on the right), one
    sub-folder per class (`nested`) or all in one folder."""
    names = ("left", "right")
    for c, count in enumerate(per_class):
        folder = os.path.join(root, names[c]) if nested else root
        os.makedirs(folder, exist_ok=True)
        for i in range(count):
            pixels = RNG.integers(0, 60, (size, size)).astype(np.uint8)
            pixels[:, c * size // 2:(c + 1) * size // 2] += 150
            Image.fromarray(pixels).save(os.path.join(folder, f"{names[c]}_{i:03d}.png"))
    return str(root)
