"""Placeholder: being written (issue 2)."""


def load_tfds(*args, **kwargs):
    raise NotImplementedError("load_tfds is not written yet")
