"""Placeholder: being written (issue 2)."""


def load_medmnist(*args, **kwargs):
    raise NotImplementedError("load_medmnist is not written yet")
