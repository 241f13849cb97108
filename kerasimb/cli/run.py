"""`kerasimb run <recipe> [flags]`: run one paper's recipe (`kerasimb.recipes.<recipe>`).

The recipe's parser is the shared run flags, with the recipe's protocol as their defaults, plus
the recipe's own flags; `kerasimb run <recipe> --help` lists them. `python -m
kerasimb.recipes.<recipe>` and `python recipes/<recipe>.py` in a checkout run the same.
"""

import argparse

from kerasimb.cli.args import (Parser, UsageError, add_run_arguments, check_folds, load_dataset,
                               load_test_dataset, mark_default_seeds, output_folder)
from kerasimb.recipes import RECIPES
from kerasimb.recipes.protocol import add_budget_argument, budget_defaults

NAME = "run"
HELP = "run a paper's recipe (pass its own flags after the name)"
DESCRIPTION = ("Run the recipe that reruns one paper's experiment, e.g. `kerasimb run "
               "balanced_mixup --dataset medmnist:pneumoniamnist`; `kerasimb run <recipe> --help` "
               f"lists its flags. Recipes: {', '.join(RECIPES)}.")


def add_arguments(parser):
    """Adds the recipe name and the recipe's own flags (passed through)."""
    parser.add_argument("recipe", metavar="RECIPE", help=f"one of {', '.join(RECIPES)}")
    parser.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    return parser


def recipe_parser(name, recipe):
    """The parser of one recipe: the shared run flags with its defaults (its paper's protocol at
    the small budget, `recipe.PROTOCOL`), `--budget`, and its own flags."""
    parser = Parser(prog=f"kerasimb run {name}", description=recipe.__doc__.split("\n\n")[0])
    protocol = getattr(recipe, "PROTOCOL", None)
    mark_default_seeds(add_run_arguments(parser, **{**recipe.DEFAULTS,
                                                    **(protocol.defaults() if protocol else {})}))
    if protocol is not None:
        add_budget_argument(parser, protocol)
    recipe.add_arguments(parser)
    parser.add_argument("--shard", type=_no_shard(name), help=argparse.SUPPRESS)
    return parser


def parse_recipe_args(name, recipe, argv):
    """Parses a recipe's flags: `--budget paper` first sets the paper's epochs, image size (and
    model) as defaults, then the flags are read again, so explicit flags win. A momentum that
    is only the protocol's default is dropped when `--optimizer` is not SGD."""
    parser = recipe_parser(name, recipe)
    args = parser.parse_args(argv)
    protocol = getattr(recipe, "PROTOCOL", None)
    if protocol is not None and args.budget != "small":
        parser.set_defaults(**budget_defaults(protocol, args.budget))
        args = parser.parse_args(argv)
    if args.optimizer != "sgd":
        if args.momentum is not None and args.momentum == parser.get_default("momentum"):
            args.momentum = None
        if args.nesterov and parser.get_default("nesterov"):
            args.nesterov = False
    return args


def _no_shard(name):
    """The `--shard` type of a recipe: always one line saying it does not apply."""

    def refuse(text):
        raise argparse.ArgumentTypeError(
            f"does not apply to the recipes (received --shard {text} for {name}); shard a "
            "comparison with `kerasimb compare ... --shard K/N --output DIR`")

    return refuse


def run(args):
    """Parses the recipe's flags, loads its dataset and runs it; returns its exit status."""
    from kerasimb import recipes

    if args.recipe not in RECIPES:
        raise UsageError(f"argument RECIPE: unknown recipe {args.recipe!r}; available: "
                         f"{', '.join(RECIPES)}")
    recipe = recipes.load(args.recipe)
    recipe_args = parse_recipe_args(args.recipe, recipe, args.recipe_args)
    if hasattr(recipe_args, "fold_as_test"):  # the recipe takes the shared fold flags
        check_folds(recipe_args)
    recipe.check_arguments(recipe_args)
    dataset = load_dataset(recipe_args, backbones=recipe.backbones(recipe_args))
    if hasattr(recipe_args, "test_dataset"):
        recipe_args.test_dataset = load_test_dataset(recipe_args, dataset)
    output = output_folder(recipe_args, args.recipe, dataset.name)
    args.output, args.output_given = output, recipe_args.output_given  # for the Ctrl-C line
    return recipe.run(recipe_args, dataset, output)
