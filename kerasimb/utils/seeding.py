"""Seeding."""

import random

import numpy as np


def set_seed(seed):
    """Seeds Python, NumPy, TensorFlow and Keras so that a run can be repeated.

    Args:
        seed: int. The seed.

    Example:

    >>> set_seed(0)
    """
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)  # also seeds TensorFlow's global generator
