"""`kerasimb compare`: train several methods under identical conditions and compare them."""

import os

from kerasimb.cli.args import (UsageError, add_calibrate_argument, add_file_backed_arguments,
                               add_folds_arguments, add_run_arguments, check_folds, load_dataset,
                               load_test_dataset, mark_default_seeds, method_names,
                               output_folder, shard_argument)
from kerasimb.recipes.flags import add_recalibrate_bn_argument, recalibration_callbacks

NAME = "compare"
HELP = "train several methods under identical conditions and compare them"
DESCRIPTION = ("Train each method with the same model, epochs, batch size, learning rate and "
               "seeds, score it on the test split, print a table (mean ± std over seeds, and "
               "each method's paired difference from --baseline with its 95% bootstrap "
               "interval) and save metrics.json, report.md and plots. Rerunning the same "
               "command with the same --output resumes (also with another --baseline or "
               "--main-metric: they change only the report). --shard K/N splits the runs over "
               "N processes sharing one --output (a Slurm job array, a Kubernetes indexed Job: "
               "see examples/). --folds K runs each method once per fold of a stratified "
               "K-fold cross-validation instead; --test-dataset scores every model on an "
               "external test set too.")

# One representative of each family that trains through the standard loop: the two baselines,
# logit adjustment and LDAM-DRW (losses), class sampling and Balanced-MixUp (sampling). Every
# registered method is a `--methods` name away; this list keeps the bare command near 2 minutes.
DEFAULT_METHODS = ("ce", "reweight", "logit-adjusted", "ldam-drw", "class-sampling",
                   "balanced-mixup")


def add_arguments(parser):
    """Adds `--methods`, `--save-models`, `--baseline`, `--main-metric`, `--folds`,
    `--fold-as-test`, `--test-dataset` and the shared run flags."""
    parser.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                        help="methods to compare, e.g. ce ldam-drw ce+perturb (`kerasimb list` "
                             f"shows all) (default: {' '.join(DEFAULT_METHODS)})")
    parser.add_argument("--save-models", action="store_true",
                        help="save every trained model (with what its predictions need) as "
                             "<output>/models/<method>/seed<k>/model.keras (fold<i> with "
                             "--folds), for kerasimb evaluate / predict")
    parser.add_argument("--baseline", default=None, metavar="NAME",
                        help="the method the others are judged against in the table's 'vs "
                             "baseline' column: each one's paired difference in --main-metric "
                             "with a 95%% bootstrap interval over seeds and test images "
                             "(default: the first of --methods)")
    parser.add_argument("--main-metric", default="balanced_accuracy", metavar="KEY",
                        help="the figure of the 'vs baseline' column: balanced_accuracy, "
                             "macro_f1, mcc, quadratic_kappa, smallest_class_recall, accuracy, "
                             "auc or kendall_tau (default: %(default)s)")
    parser.add_argument("--shard", type=shard_argument, default=None, metavar="K/N",
                        help="run shard K of N (1-based) of the (method, seed) runs, beside the "
                             "other shards started with the same command and the same --output "
                             "(on this machine or others sharing the folder); each run is "
                             "trained once, under a lock file, and the last shard to finish "
                             "writes the report (so does rerunning the command without --shard)")
    add_recalibrate_bn_argument(parser)
    add_calibrate_argument(parser)
    add_folds_arguments(parser)
    add_file_backed_arguments(parser)
    return mark_default_seeds(add_run_arguments(parser))


def check_versus_baseline(args, names):
    """Checks `--baseline` (one of the compared `names`) and `--main-metric` (a scalar
    `metrics.report` key); returns the baseline's label (`None` for the first method).

    Raises:
        UsageError: a baseline that is not compared, an unknown main metric.
    """
    from kerasimb import methods
    from kerasimb.metrics import SCALAR_METRICS

    if args.main_metric not in SCALAR_METRICS:
        raise UsageError(f"argument --main-metric: expected one of {', '.join(SCALAR_METRICS)}, "
                         f"received {args.main_metric!r}")
    if args.baseline is None:
        return None
    if args.baseline not in names:
        raise UsageError(f"argument --baseline: expected one of the compared methods "
                         f"{', '.join(names)}, received {args.baseline!r}")
    return methods.get(args.baseline).name or args.baseline  # the label compare gives it


def check_shard(args):
    """`--shard` needs `--output` (the folder the shards share) and no `--restart`.

    Raises:
        UsageError: `--shard` without `--output`, or with `--restart`.
    """
    if args.shard is None:
        return
    text = f"{args.shard[0]}/{args.shard[1]}"
    if args.output is None:
        raise UsageError(f"argument --shard: needs --output DIR, the folder every shard shares "
                         f"(received --shard {text} without --output)")
    if args.restart:
        raise UsageError(f"argument --shard: does not apply with --restart (each shard would "
                         f"discard the runs the others stored; use a new --output) (received "
                         f"--shard {text} --restart)")


def _runs_text(pairs):
    return ", ".join(f"{label} {seed}" if isinstance(seed, str) else f"{label} seed {seed}"
                     for label, seed in pairs) or "none"


def _shard_lines(info, output, total):
    """What a shard prints once its runs are done."""
    k, n = info["shard"]
    lines = [f"Shard {k}/{n}: trained {_runs_text(info['trained'])}"
             + (f"; loaded {_runs_text(info['loaded'])} (finished before)" if info["loaded"]
                else "")]
    if info["report"]:
        lines.append(f"Every run of the comparison is stored in {output}: this shard finished "
                     "last and wrote the report.")
    elif info["complete"]:
        lines.append(f"Every run of the comparison is stored in {output}, and the report there "
                     "was written by another shard from the same runs.")
    else:
        lines.append(f"{len(info['missing'])} of {total} runs are not stored yet "
                     f"({_runs_text(info['missing'])}): the report will be written by the last "
                     "shard to finish, or by rerunning the same command without --shard.")
    return lines


def run(args):
    """Runs `runs.compare` with the parsed flags; prints and saves the results. Returns 0."""
    from kerasimb import methods, runs
    from kerasimb.utils.formatting import spread_text

    names = method_names(args.methods) if args.methods is not None else list(DEFAULT_METHODS)
    baseline = check_versus_baseline(args, names)
    check_shard(args)
    check_folds(args)
    dataset = load_dataset(args)
    args.test_dataset = load_test_dataset(args, dataset)
    output = output_folder(args, "compare", dataset.name)
    print(dataset.summary())
    print()
    print(f"Comparing {', '.join(names)} with {args.backbone}: {args.epochs} epochs, batch size "
          f"{args.batch_size}, Adam lr {args.learning_rate:g}, "
          + (f"{args.folds} folds (seed {args.seeds[0]})" if args.folds else
             f"seeds {args.seeds}"), flush=True)
    keys = [f"fold{i}" for i in range(args.folds)] if args.folds else list(args.seeds)
    if args.shard is not None:
        labels = [methods.get(name).name or name for name in names]  # as compare names them
        share = runs.shard_runs([(m, s) for m in labels for s in keys], args.shard)
        print(f"Shard {args.shard[0]}/{args.shard[1]}: {_runs_text(share)} ({len(share)} of "
              f"{len(names) * len(keys)} runs)", flush=True)
    result = runs.compare(dataset, methods=names, output_dir=output, save_models=args.save_models,
                          callbacks=recalibration_callbacks(args, dataset),
                          baseline=baseline, main_metric=args.main_metric, shard=args.shard,
                          **runs.compare_kwargs(args))
    spread = (f"mean ± std over {args.folds} folds" if args.folds else spread_text(args.seeds))
    where = (f"Held-out folds of {dataset.name}" if args.fold_as_test else
             f"Test split of {dataset.name} ({len(dataset.test[1])} images)")
    if result.shard is not None:
        print()
        print("\n".join(_shard_lines(result.shard, output, len(names) * len(keys))))
        if result.shard["report"]:
            print(f"\n{where}, {spread}:\n")
            print(result.table())
            saved = sorted(os.path.basename(p) for p in result.shard["report"].values())
            print(f"\nSaved {', '.join(saved)} to {output}")
        return 0
    print(f"\n{where}, {spread}:\n")
    print(result.table())
    external = result.external_result()
    if external is not None:
        print(f"\nExternal test set {external.dataset['name']} "
              f"({external.dataset['test_size']} images), {spread}:\n")
        print(external.table())
    paths = result.save(output)
    print(f"\nSaved {', '.join(sorted(os.path.basename(p) for p in paths.values()))} to {output}")
    return 0
