"""`kerasimb train`: one method on one dataset, saved as a model to evaluate and predict with."""

import os

from kerasimb.cli.args import (add_calibrate_argument, add_file_backed_arguments,
                               add_run_arguments, load_dataset, method_names, output_folder)
from kerasimb.recipes.flags import add_recalibrate_bn_argument, recalibration_callbacks

NAME = "train"
HELP = "train one method and save the model (model.keras) with its report"
DESCRIPTION = ("Train one method (one model per seed), keep the weights of the epoch with the "
               "best validation score (or the last epoch's), and save model.keras (or "
               "seed<k>/model.keras) with report.md, metrics.json, history.csv and training "
               "curves. Rerunning the same command with the same --output resumes.")


def add_arguments(parser):
    """Adds `--method`, `--select-by` and the shared run flags (20 epochs, one seed)."""
    parser.add_argument("--method", default="ce", metavar="NAME",
                        help="the training method, e.g. ldam-drw or ce+perturb (`kerasimb list` "
                             "shows all) (default: %(default)s)")
    parser.add_argument("--select-by", default="balanced_accuracy", metavar="METRIC",
                        help="keep the weights of the epoch with the best validation METRIC (a "
                             "metrics.report key), or `last` for the last epoch's (default: "
                             "%(default)s)")
    add_recalibrate_bn_argument(parser)
    add_calibrate_argument(parser)
    add_file_backed_arguments(parser)
    return add_run_arguments(parser, epochs=20, seeds=(0,))


def run(args):
    """Trains with the parsed flags; prints the table and where the model is. Returns 0.

    Raises:
        ValueError: every seed's run diverged (after the report is saved): no model to use.
    """
    from kerasimb import runs
    from kerasimb.utils.formatting import spread_text

    (name,) = method_names([args.method], option="--method")
    dataset = load_dataset(args)
    output = output_folder(args, "train", dataset.name)
    select_by = None if args.select_by == "last" else args.select_by
    print(dataset.summary())
    print(f"\nTraining {name} with {args.backbone}: {args.epochs} epochs, batch size "
          f"{args.batch_size}, Adam lr {args.learning_rate:g}, seeds {args.seeds}", flush=True)
    result = runs.train(dataset, name, output, select_by=select_by,
                        callbacks=recalibration_callbacks(args, dataset),
                        **runs.compare_kwargs(args))
    print(f"\nTest split of {dataset.name} ({len(dataset.test[1])} images), "
          f"{spread_text(args.seeds)}:\n")
    print(result.table())
    models = [os.path.join(output, path) for path in result.settings["models"].values()]
    diverged = [run["seed"] for run in result.diverged()]
    if not models:
        raise ValueError(f"training diverged for every seed ({diverged}); no model saved, the "
                         f"report is in {output}. Lower --learning-rate and add --restart")
    print(f"\nSaved {', '.join(models)} and the report to {output}")
    if diverged:
        print(f"Seeds {diverged} diverged: no model for them (see the report)")
    return 0
