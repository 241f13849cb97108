"""Image resizing shared by the loaders (PIL, bilinear; keeps uint8)."""

import numpy as np
from PIL import Image


def resize_images(images, size):
    """Resizes uint8 images `(N, H, W, C)` to `(N, size, size, C)` with bilinear filtering."""
    images = np.asarray(images)
    if images.shape[1:3] == (size, size):
        return images
    out = np.empty((len(images), size, size, images.shape[-1]), dtype=images.dtype)
    for i, image in enumerate(images):
        for ch in range(images.shape[-1]):
            resized = Image.fromarray(image[..., ch]).resize((size, size), Image.BILINEAR)
            out[i, ..., ch] = np.asarray(resized)
    return out
