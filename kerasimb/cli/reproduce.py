"""`kerasimb reproduce`: run every paper's recipe at a budget and judge each paper's claims."""

import os

from kerasimb.cli.args import UsageError, add_tf_logs_argument, output_folder, positive_float
from kerasimb.recipes import RECIPES

NAME = "reproduce"
HELP = "run every paper's recipe and judge each paper's headline claim"
DESCRIPTION = ("Run each recipe at a budget (each recipe's own flags for it), then write one "
               "report with each paper's claim, our figures (mean ± std over seeds) and a "
               "verdict.")


def add_arguments(parser):
    """Adds the flags of `kerasimb reproduce`."""
    parser.add_argument("--dataset", default="digits-lt",
                        help="dataset name, passed to every recipe (default: %(default)s)")
    parser.add_argument("--budget", choices=("small", "medium", "paper"), default="small",
                        help="small: minutes per recipe; medium: tens of minutes; paper: each "
                             "paper's epochs, image size and model (hours on a GPU; each "
                             "recipe's BUDGETS say its flags) (default: %(default)s)")
    parser.add_argument("--recipes", nargs="+", default=None, metavar="NAME",
                        help=f"run only these recipes, from {', '.join(RECIPES)} "
                             "(default: all)")
    parser.add_argument("--data-dir", default=None, help="passed to every recipe")
    parser.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                        help="per-recipe time limit; a recipe over it is reported 'not run' "
                             "(default: none)")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output folder (default: runs/reproduce-<dataset>-<timestamp>)")
    parser.add_argument("--mixed-precision", nargs="?", const="auto", default="float32",
                        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                        metavar="POLICY", help="passed to every recipe (default: %(default)s)")
    parser.add_argument("--distribute", default="none",
                        choices=("none", "mirrored", "multiworker", "tpu"),
                        help="passed to every recipe (default: %(default)s)")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "on", "off"),
                        help="passed to every recipe (default: %(default)s)")
    return add_tf_logs_argument(parser)


def _forwarded_flags(args):
    """The runtime flags that differ from their defaults, as recipe arguments."""
    flags = []
    for flag, default in (("mixed_precision", "float32"), ("distribute", "none"),
                          ("jit_compile", "auto")):
        value = getattr(args, flag)
        if value != default:
            flags += ["--" + flag.replace("_", "-"), value]
    return flags + (["--tf-logs"] if args.tf_logs else [])


def run(args):
    """Runs `recipes.reproduce.reproduce` with the parsed flags; prints the verdict table."""
    from kerasimb.recipes import reproduce

    if args.recipes is not None:
        unknown = [r for r in args.recipes if r not in RECIPES]
        if unknown:
            raise UsageError(f"argument --recipes: unknown recipe(s) {unknown}; available: "
                             f"{', '.join(RECIPES)}")
        if len(set(args.recipes)) != len(args.recipes):
            raise UsageError(f"argument --recipes: a recipe is named twice: {args.recipes}")
    output = output_folder(args, "reproduce", args.dataset)
    reproduce.reproduce(args.dataset, args.budget, output, recipes=args.recipes,
                        data_dir=args.data_dir, timeout=args.timeout,
                        extra=_forwarded_flags(args), echo=lambda s: print(s, flush=True))
    with open(os.path.join(output, "report.md"), encoding="utf-8") as f:
        print("\n" + "\n".join(line for line in f.read().splitlines() if line.startswith("|")))
    print(f"\nSaved report.md and reproduce.json to {output}")
    return 0
