"""Runs every `>>>` example in kerasimb's docstrings, so that documented numbers stay true."""

import doctest
import importlib
import pkgutil

import pytest

import kerasimb

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(kerasimb.__path__, prefix="kerasimb.")
    if not m.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
