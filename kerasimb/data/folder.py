"""Placeholder: being written (issue 2)."""


def load_folder(*args, **kwargs):
    raise NotImplementedError("load_folder is not written yet")
