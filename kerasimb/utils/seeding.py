"""Seeding."""

import keras


def set_seed(seed):
    """Seeds Python's `random`, NumPy, TensorFlow and Keras so that a run can be repeated
    (`keras.utils.set_random_seed`, which seeds all four).

    Args:
        seed: int. The seed.

    Example:

    >>> set_seed(0)
    """
    keras.utils.set_random_seed(seed)
