"""Shared by the recipe smoke tests: load a recipe as a module, or run it as `__main__`."""

import os
import runpy
import sys
from importlib import util

RECIPES = os.path.join(os.path.dirname(__file__), "..", "..", "recipes")


def recipe_path(name):
    return os.path.join(RECIPES, f"{name}.py")


def load_recipe(name):
    """Imports `recipes/<name>.py` without running its `__main__` block."""
    spec = util.spec_from_file_location(f"{name}_recipe", recipe_path(name))
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_recipe(name, argv):
    """Runs `recipes/<name>.py` with `argv` as `__main__`; returns its exit status."""
    path = recipe_path(name)
    saved = sys.argv
    sys.argv = [path, *argv]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return e.code
    finally:
        sys.argv = saved
    return 0
