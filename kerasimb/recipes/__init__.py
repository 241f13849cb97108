"""The papers' experiments, one module per paper: `kerasimb run <recipe>`, `python -m
kerasimb.recipes.<recipe>`, or `kerasimb.recipes.load(<recipe>)` from Python.

A recipe module declares:

- its docstring: a one-line title, then what it runs and writes;
- `DEFAULTS`: the shared run flags' defaults (its paper's protocol, scaled to minutes on a CPU);
- `BUDGETS`: `{budget: [flags]}`, the extra flags that `kerasimb reproduce --budget` passes;
- `CLAIMS`: the paper's headline claims as data, which `kerasimb reproduce` judges;
- `PAPER_TABLES`: the paper's own table figures as data, each table naming where it is printed
  and its setting, with its rows mapped to the recipe's runs (`kerasimb.recipes.paper` prints
  them beside ours in the report, and `kerasimb reproduce` beside each claim);
- `add_arguments(parser)`, `check_arguments(args)` (raises `ValueError` naming the flag),
  `backbones(args)` (the models whose minimum image size the data must meet) and
  `run(args, dataset, output) -> int`.

`kerasimb.recipes.reproduce` runs them all and judges the claims.
"""

import importlib

# The paper recipes, in the order `kerasimb list` and `kerasimb reproduce` use.
RECIPES = ("balanced_mixup", "metric_learning", "perturbed_inference", "aduni", "quadsnet")


def load(name):
    """Imports and returns the recipe module `kerasimb.recipes.<name>`.

    Raises:
        ValueError: `name` is not one of `RECIPES`.
    """
    if name not in RECIPES:
        raise ValueError(
            f"Invalid value received for argument `name`. Expected a recipe, one of "
            f"{list(RECIPES)}. Received: name={name!r}")
    return importlib.import_module(f"kerasimb.recipes.{name}")


def summary(name):
    """The first line of the recipe's docstring: its paper and what it reproduces."""
    return load(name).__doc__.strip().splitlines()[0]
