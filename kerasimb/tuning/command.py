"""The `kerasimb tune` command (also `recipes/tune.py`): flags and the run."""

import os
import sys


def add_arguments(parser):
    """Adds the flags of `kerasimb tune` / `recipes/tune.py` to `parser`."""
    from kerasimb.cli import add_run_arguments
    from kerasimb.tuning.hypermodel import OBJECTIVES
    from kerasimb.tuning.search import TUNERS

    add_run_arguments(parser, epochs=5, seeds=(0,))
    parser.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                        help="methods to search over, every registered method if not given; "
                             "modifiers such as ce+perturb are accepted")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--tuner", choices=TUNERS, default="random")
    parser.add_argument("--objective", choices=OBJECTIVES, default="balanced_accuracy",
                        help="validation metric to maximise")
    parser.add_argument("--directory", default=None, metavar="DIR",
                        help="search state folder, <output>/search if not given; an existing "
                             "search there is resumed")
    parser.add_argument("--overwrite", action="store_true",
                        help="start the search afresh instead of resuming (as --restart)")
    parser.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64],
                        help="SmallCNN widths searched (small_cnn only)")
    return parser


def run(args, error):
    """Runs `kerasimb tune` with parsed `args`; `error(message)` exits with status 2."""
    from kerasimb import methods
    from kerasimb.cli import dataset_from_args, default_output, runtime_kwargs
    from kerasimb.tuning.search import tune
    from kerasimb.utils import runtime

    if args.methods is not None:
        unknown = []
        for name in args.methods:
            try:
                methods.get(name)
            except ValueError:
                unknown.append(name)
        if unknown:
            error(f"argument --methods: unknown method(s) {unknown}; registered: "
                  f"{methods.names()} (modifiers: "
                  f"{', '.join('+' + m for m in methods.registry.modifiers())})")
        if len(set(args.methods)) != len(args.methods):
            error(f"argument --methods: a method is named twice: {args.methods}")
    if args.max_trials < 1:
        error(f"argument --max-trials: expected an integer >= 1, received {args.max_trials}")
    if len(args.seeds) != 1:
        error(f"argument --seeds: tune takes one seed, received {args.seeds}")
    if any(w < 1 for w in args.widths):
        error(f"argument --widths: expected integers >= 1, received {args.widths}")
    dataset = dataset_from_args(args, error)
    output = args.output or default_output("tune", dataset.name)
    directory = args.directory or os.path.join(output, "search")
    print(dataset.summary())
    print()
    print(f"Searching {', '.join(args.methods or ['every registered method'])} with "
          f"{args.tuner} search, {args.max_trials} trials, {args.epochs} epochs per trial, "
          f"objective validation {args.objective}; state in {directory}")
    sys.stdout.flush()
    run_settings = runtime_kwargs(args)  # --mixed-precision, --distribute, --jit-compile
    strategy = runtime.make_strategy(run_settings["distribute"])
    with runtime.run_context(run_settings["mixed_precision"], strategy):  # every trial's model
        result = tune(dataset, methods=args.methods, backbone=args.backbone,
                      objective=args.objective, tuner=args.tuner, max_trials=args.max_trials,
                      epochs=args.epochs, batch_size=args.batch_size, directory=directory,
                      overwrite=args.overwrite or getattr(args, "restart", False),
                      seed=args.seeds[0], verbose=args.verbose,
                      learning_rate=args.learning_rate, widths=args.widths,
                      jit_compile=run_settings["jit_compile"],
                      mixed_precision=run_settings["mixed_precision"])
    print()
    print(f"Leaderboard (validation {args.objective}):")
    print(result.table())
    print()
    best = result.best
    print(f"Best: {best['method']} {best['params'] or ''} (learning rate "
          f"{best['learning_rate']:.3g}); retrained and scored once on the test split:")
    for key in ("balanced_accuracy", "macro_f1", "mcc", "quadratic_kappa", "accuracy"):
        print(f"  {key}: {result.test_report[key]:.4f}")
    paths = result.save(output)
    print(f"\nSaved {', '.join(sorted(os.path.basename(p) for p in paths.values()))} to {output}")
    return 0
