"""`kerasimb tune`: a Keras Tuner search over methods and their hyperparameters."""

import os

from kerasimb.cli.args import (
    UsageError,
    add_file_backed_arguments,
    add_run_arguments,
    load_dataset,
    method_names,
    output_folder,
    positive_float,
    positive_int,
)

NAME = "tune"
HELP = "Keras Tuner search over methods and their hyperparameters"
DESCRIPTION = ("Search methods and hyperparameters on the validation split (random, Bayesian or "
               "Hyperband), print the leaderboard, retrain the best configuration, score it once "
               "on the test split and write report.md with the search history plot. Rerunning "
               "the same command with the same --output resumes the search. On several "
               "processes or machines: run the same command in each, with Keras Tuner's "
               "environment variables KERASTUNER_TUNER_ID (chief in one process, tuner0, "
               "tuner1, ... in the workers), KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT "
               "(the chief's address) and one shared --output; the chief retrains the best "
               "configuration and writes the report.")


def add_arguments(parser):
    """Adds the search flags and the shared run flags (5 epochs, one seed by default)."""
    add_run_arguments(parser, epochs=5, seeds=(0,))
    add_file_backed_arguments(parser)
    parser.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                        help="methods to search over; modifiers such as ce+perturb are accepted "
                             "(default: every registered method)")
    parser.add_argument("--max-trials", type=positive_int, default=10,
                        help="(default: %(default)s)")
    parser.add_argument("--tuner", default="random",
                        help="random, bayesian or hyperband (default: %(default)s)")
    parser.add_argument("--objective", default="balanced_accuracy",
                        help="validation metric to maximise, a metrics.report key such as "
                             "balanced_accuracy, macro_f1 or mcc (default: %(default)s)")
    parser.add_argument("--directory", default=None, metavar="DIR",
                        help="search state folder; an existing search there is resumed "
                             "(default: <output>/search)")
    parser.add_argument("--widths", type=positive_int, nargs="+", default=[16, 32, 64],
                        help="SmallCNN widths searched, small_cnn only (default: %(default)s)")
    parser.add_argument("--worker-timeout", type=positive_float, default=60.0, metavar="SECONDS",
                        help="distributed search, on the chief: a worker silent for this long "
                             "is given up and its trial runs again on another worker "
                             "(default: %(default)s)")
    return parser


def run(args):
    """Runs the search with the parsed flags; prints the leaderboard and saves the report."""
    from kerasimb import runs, tuning
    from kerasimb.utils import runtime

    if args.stop_on_divergence:
        raise UsageError("argument --stop-on-divergence: does not apply to tune (a trial whose "
                         "loss stops being finite fails and the search goes on)")
    names = method_names(args.methods) if args.methods is not None else None
    if len(args.seeds) != 1:
        raise UsageError(f"argument --seeds: tune takes one seed, received {args.seeds}")
    role = tuning.distributed_role()  # Keras Tuner's KERASTUNER_* variables; ValueError if bad
    if role is not None:
        if args.output is None:
            raise UsageError(
                f"argument --output: a distributed search (KERASTUNER_TUNER_ID={role.tuner_id}) "
                "needs --output, one folder shared by the chief and every worker")
        if args.restart and not role.is_chief:
            raise UsageError(
                f"argument --restart: only the chief may start a distributed search afresh "
                f"(this process is worker {role.tuner_id}); it would delete the shared state")
    dataset = load_dataset(args)
    output = output_folder(args, "tune", dataset.name)
    directory = args.directory or os.path.join(output, "search")
    print(dataset.summary())
    print()
    print(f"Searching {', '.join(names or ['every registered method'])} with {args.tuner} "
          f"search, {args.max_trials} trials, {args.epochs} epochs per trial, objective "
          f"validation {args.objective}; state in {directory}", flush=True)
    settings = runs.compare_kwargs(args)
    strategy = runtime.make_strategy(settings["distribute"])
    with runtime.run_context(settings["mixed_precision"], strategy):  # every trial's model
        result = tuning.tune(dataset, methods=names, backbone=args.backbone,
                             objective=args.objective, tuner=args.tuner,
                             max_trials=args.max_trials, epochs=args.epochs,
                             batch_size=args.batch_size, directory=directory,
                             overwrite=args.restart, seed=args.seeds[0], verbose=args.verbose,
                             learning_rate=args.learning_rate, widths=args.widths,
                             jit_compile=settings["jit_compile"],
                             mixed_precision=settings["mixed_precision"],
                             augment=settings["augment"], progress=not args.no_progress,
                             freeze_backbone=settings["freeze_backbone"],
                             optimizer=settings["optimizer"],
                             worker_timeout=args.worker_timeout,
                             model_kwargs={} if args.weights is None else {"weights": args.weights})
    if result is None:  # a worker: the chief writes the report
        return 0
    print(f"\nLeaderboard (validation {args.objective}):")
    print(result.table())
    best = result.best
    print(f"\nBest: {best['method']} {best['params'] or ''} (learning rate "
          f"{best['learning_rate']:.3g}); retrained and scored once on the test split:")
    for key in result.test_metrics():
        print(f"  {key}: {result.test_report[key]:.4f}")
    paths = result.save(output)
    print(f"\nSaved {', '.join(sorted(os.path.basename(p) for p in paths.values()))} to {output}")
    return 0
