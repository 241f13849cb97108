"""Shared by the recipe tests: a recipe's module, its parser, and a run through the command."""

from kerasimb import recipes
from kerasimb.cli.main import main
from kerasimb.cli.run import recipe_parser as _recipe_parser


def load_recipe(name):
    """The recipe module `kerasimb.recipes.<name>`."""
    return recipes.load(name)


def recipe_parser(name):
    """The recipe's full parser (shared run flags with its defaults + its own flags)."""
    return _recipe_parser(name, recipes.load(name))


def run_recipe(name, argv):
    """Runs `kerasimb run <name> ARGV` in this process; returns its exit status."""
    return main(["run", name, *argv])
