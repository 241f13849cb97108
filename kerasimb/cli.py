"""The `kerasimb` command.

    kerasimb list                      # datasets, methods, models, recipes
    kerasimb compare                   # the default methods on digits-lt, ~2 minutes on a CPU
    kerasimb compare --dataset medmnist:pneumoniamnist --methods ce reweight --epochs 50 \\
        --seeds 0 1 2 --output runs/pneumonia

`compare` prints the dataset summary and a results table, and writes `metrics.json`,
`report.md`, `predictions.npz` and PNG plots to `--output`. All the work is done by
`kerasimb.experiment.compare`; this module only parses arguments and prints.
Bad arguments exit with status 2 and a message naming the argument.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported

import argparse  # noqa: E402
import datetime  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402

# Defaults of `kerasimb compare`, chosen so that the bare command trains the default methods
# on digits-lt (242 training images of 28x28) with 3 seeds in about a minute on a 2-core CPU:
# SmallCNN reaches ~100% training accuracy in 30 epochs of Adam at its usual 1e-3 (8 steps an
# epoch at batch size 32), and 3 seeds give a mean ± std rather than one noisy number.
DEFAULT_DATASET = "digits-lt"
DEFAULT_BACKBONE = "small_cnn"
DEFAULT_EPOCHS = 30
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_BATCH_SIZE = 32
DEFAULT_LEARNING_RATE = 1e-3
# One representative of each family that trains through the standard loop: the two baselines,
# logit adjustment and LDAM-DRW (losses), class sampling and Balanced-MixUp (sampling). Every
# registered method is a `--methods` name away; this list keeps the bare command near 2 minutes.
DEFAULT_METHODS = ("ce", "reweight", "logit-adjusted", "ldam-drw", "class-sampling", "balanced-mixup")


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, received {value}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, received {value}")
    return value


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, received {text!r}")
    return value


def add_run_arguments(parser, epochs=DEFAULT_EPOCHS, seeds=DEFAULT_SEEDS, batch_size=DEFAULT_BATCH_SIZE,
                      learning_rate=DEFAULT_LEARNING_RATE, backbone=DEFAULT_BACKBONE):
    """Adds the flags shared by `kerasimb compare` and every recipe to `parser`.

    --dataset, --backbone, --epochs, --seeds, --batch-size, --learning-rate, --image-size,
    --data-dir, --download, --output, --verbose, --no-progress, --restart, --mixed-precision,
    --distribute, --jit-compile (pass `runtime_kwargs(args)` to `experiment.compare`). Recipes
    pass their own defaults. With `--output`, a rerun of the same command resumes (finished runs are
    loaded, an interrupted one continues from its last epoch); `--restart` starts afresh.
    """
    parser.add_argument("--dataset", default=DEFAULT_DATASET,
                         help="dataset name (see `kerasimb list`)")
    parser.add_argument("--backbone", default=backbone,
                         help="model: small_cnn or a keras.applications backbone")
    parser.add_argument("--epochs", type=_positive_int, default=epochs)
    parser.add_argument("--seeds", type=_non_negative_int, nargs="+", metavar="SEED",
                         default=list(seeds))
    parser.add_argument("--batch-size", type=_positive_int, default=batch_size)
    parser.add_argument("--learning-rate", type=_positive_float, default=learning_rate,
                         help="Adam learning rate")
    parser.add_argument("--image-size", type=_positive_int, default=None,
                         help="resize images to this height and width when loading "
                              "(backbones need at least 32)")
    parser.add_argument("--data-dir", default=None,
                         help="where the dataset's files are (for medmnist: and tfds:)")
    parser.add_argument("--download", action="store_true",
                         help="download the dataset if missing (medmnist:, tfds:; needs network)")
    parser.add_argument("--output", default=None, metavar="DIR",
                         help="output folder (default: runs/<command>-<dataset>-<timestamp>)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                         help="Keras fit verbosity")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--restart", action="store_true",
                        help="discard the finished runs and backups saved in --output instead of "
                             "resuming from them (a rerun with the same --output resumes)")
    parser.add_argument("--mixed-precision", nargs="?", const="auto", default="float32",
                        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                        metavar="POLICY",
                        help="Keras dtype policy: float32 (default), mixed_float16, "
                             "mixed_bfloat16; the bare flag means auto (mixed_float16 on a GPU, "
                             "mixed_bfloat16 otherwise)")
    parser.add_argument("--distribute", default="none",
                        choices=("none", "mirrored", "multiworker", "tpu"),
                        help="tf.distribute strategy (--batch-size is then the global batch)")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "on", "off"),
                        help="XLA for the training steps (auto: on a GPU only)")
    return parser


def add_recalibrate_bn_argument(parser):
    """Adds `--recalibrate-bn [train_end|epoch_end]` (see `recalibration_callbacks`)."""
    parser.add_argument("--recalibrate-bn", nargs="?", const="train_end", default=None,
                        choices=("train_end", "epoch_end"),
                        help="recompute every model's BatchNorm moving statistics from the "
                             "training images (kerasimb.callbacks.RecalibrateBatchNorm) at the "
                             "end of training (default when given) or after every epoch (before "
                             "its validation pass, so model selection sees them)")
    return parser


def recalibration_callbacks(args, dataset):
    """`[callbacks.RecalibrateBatchNorm(training images)]` with `--recalibrate-bn`, else `[]`."""
    if not getattr(args, "recalibrate_bn", None):
        return []
    from kerasimb.callbacks import RecalibrateBatchNorm

    return [RecalibrateBatchNorm(dataset.train[0], batch_size=args.batch_size,
                                 when=args.recalibrate_bn)]


def runtime_kwargs(args):
    """The `experiment.compare` keyword arguments set by `--mixed-precision`, `--distribute`
    and `--jit-compile`: `{"mixed_precision": ..., "distribute": ..., "jit_compile": ...}`."""
    return {
        "mixed_precision": args.mixed_precision,
        "distribute": args.distribute,
        "jit_compile": {"auto": "auto", "on": True, "off": False}[args.jit_compile],
    }


def build_parser():
    """Returns the `argparse.ArgumentParser` of the `kerasimb` command."""
    parser = argparse.ArgumentParser(
        prog="kerasimb",
        description="Keras parts for class-imbalanced medical image classification.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser(
        "list",
        help="list datasets, methods, models and recipes",
        description="List the datasets, training methods, models and recipes kerasimb knows.",
    )
    compare = commands.add_parser(
        "compare",
        help="train several methods under identical conditions and compare them",
        description=(
            "Train each method with the same model, epochs, batch size, learning rate and seeds, "
            "score it on the test split, print a table (mean ± std over seeds) and save "
            "metrics.json, report.md and plots."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    compare.add_argument("--methods", nargs="+", metavar="NAME", default=None,
                         help="methods to compare, e.g. ce ldam-drw ce+perturb (default: %s; `kerasimb list` shows all)" % " ".join(DEFAULT_METHODS))
    add_run_arguments(compare)
    compare.set_defaults(subparser=compare)
    run = commands.add_parser(
        "run",
        help="run a recipe script from recipes/ (pass its own flags after the name)",
        description="Run recipes/<NAME>.py with the remaining arguments, e.g. "
        "`kerasimb run balanced_mixup --dataset medmnist:pneumoniamnist`.",
    )
    run.add_argument("recipe", metavar="NAME", help="recipe name (see `kerasimb list`)")
    run.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own flags")
    run.set_defaults(subparser=run)
    from kerasimb import reproduce
    from kerasimb.tuning import command as tune_command

    tune = commands.add_parser(
        "tune",
        help="Keras Tuner search over methods and their hyperparameters",
        description="Search methods and hyperparameters on the validation split (random, "
        "Bayesian or Hyperband), print the leaderboard, retrain the best configuration, score "
        "it once on the test split and write report.md with the search history plot.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tune_command.add_arguments(tune)
    tune.set_defaults(subparser=tune)
    repro = commands.add_parser(
        "reproduce",
        help="run every paper's recipe and judge each paper's headline claim",
        description="Run each recipe in recipes/ at a budget, then write one report with each "
        "paper's claim, our figures (mean ± std over seeds) and a verdict.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    reproduce.add_arguments(repro)
    repro.set_defaults(subparser=repro)
    return parser


def _recipes_dir():
    import kerasimb

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(kerasimb.__file__))),
                        "recipes")


def _first_doc_line(path):
    import ast

    try:
        with open(path, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read()))
    except (OSError, SyntaxError, ValueError):
        return ""
    return doc.strip().splitlines()[0] if doc else ""


def _recipes():
    """Returns `[(name, description)]` for the `.py` files of the repository's `recipes/`."""
    folder = _recipes_dir()
    if not os.path.isdir(folder):
        return []
    return [
        (name[:-3], _first_doc_line(os.path.join(folder, name)))
        for name in sorted(os.listdir(folder))
        if name.endswith(".py") and not name.startswith("_")
    ]


def _print_section(title, rows):
    print(title)
    if not rows:
        print("  none yet")
    width = max((len(name) for name, _ in rows), default=0)
    for name, description in rows:
        print(f"  {name:<{width}}  {description}".rstrip())
    print()


def run_list():
    """Prints the datasets, methods, models and recipes."""
    from kerasimb import data, methods, models

    datasets = [(name + ("<...>" if name.endswith(":") else ""), description)
                for name, (_, description) in data.SOURCES.items()]
    _print_section("Datasets (--dataset):", datasets)
    _print_section("Methods (--methods):",
                   [(name, methods.get(name).description) for name in methods.names()])
    model_rows = [("small_cnn", "SmallCNN: 3 conv blocks + linear head, fast on CPU (default)")]
    model_rows.append(("quadsnet", "QuadSNet (Ali et al., 2021): 4 conv/separable streams, images >= 16x16"))
    for name in sorted(models.BACKBONES):
        constructor, min_size = models.BACKBONES[name]
        model_rows.append(
            (name, f"keras.applications.{constructor.__name__}, images >= {min_size}x{min_size}")
        )
    _print_section("Models (--backbone):", model_rows)
    _print_section("Recipes:", _recipes())
    return 0


def _loader(name, data):
    """Returns the loader function `data.load_dataset` would use for `name`, or `None`."""
    for key, (loader, _) in data.SOURCES.items():
        if name == key or (key.endswith(":") and name.startswith(key)):
            return loader
    return None


def default_output(command, dataset_name):
    """Returns `runs/<command>-<dataset>-<timestamp>`."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset_name)
    return os.path.join("runs", f"{command}-{safe}-{stamp}")


def dataset_from_args(args, error):
    """Checks the shared run flags and loads the dataset they name; returns the `ImageDataset`.

    Args:
        args: `argparse.Namespace` from a parser built with `add_run_arguments`.
        error: callable taking a message, e.g. `parser.error` (exits with status 2).
    """
    from kerasimb import data, models

    if len(set(args.seeds)) != len(args.seeds):
        error(f"argument --seeds: expected distinct seeds, received {args.seeds}")
    try:
        models.model_fn(args.backbone)
    except ValueError:
        error(f"argument --backbone: unknown model {args.backbone!r}; choose from {models.names()}")
    load_kwargs = {}
    if args.data_dir is not None:
        load_kwargs["data_dir"] = args.data_dir
    if args.image_size is not None:
        load_kwargs["image_size"] = args.image_size
    if args.download:
        load_kwargs["download"] = True
    loader = _loader(args.dataset, data)
    if loader is not None:
        accepted = inspect.signature(loader).parameters
        for key in load_kwargs:
            if key not in accepted:
                flag = "--" + key.replace("_", "-")
                error(f"argument {flag}: does not apply to dataset {args.dataset!r}")
    try:
        dataset = data.load_dataset(args.dataset, **load_kwargs)
    except (ValueError, TypeError, OSError) as e:
        error(f"argument --dataset: could not load {args.dataset!r}: {e}")
    backbone_key = args.backbone.lower().replace("_", "").replace("-", "")
    if backbone_key in models.BACKBONES:
        min_size = models.BACKBONES[backbone_key][1]
        if min(dataset.image_shape[:2]) < min_size:
            error(f"argument --backbone: {args.backbone} needs images of at least "
                  f"{min_size}x{min_size}; {dataset.name} has {dataset.image_shape[:2]}. "
                  f"Add --image-size {min_size}.")
    return dataset


def _known_method(methods, name):
    """Whether `methods.get(name)` accepts `name` (a registered name, or one with a modifier)."""
    try:
        methods.get(name)
    except ValueError:
        return False
    return True


def run_compare(args, parser):
    """Runs `experiment.compare` with the parsed arguments; prints and saves the results."""
    from kerasimb import experiment, methods

    error = args.subparser.error
    if args.methods is not None:  # `--methods ce,quadsnet-margin` means `--methods ce quadsnet-margin`
        args.methods = [m.strip() for item in args.methods for m in item.split(",") if m.strip()]
        unknown = [m for m in args.methods if not _known_method(methods, m)]
        if unknown:
            error(f"argument --methods: unknown method(s) {unknown}; registered: {methods.names()}"
                  f" (modifiers: {', '.join('+' + m for m in methods.registry.modifiers())})")
        if len(set(args.methods)) != len(args.methods):
            error(f"argument --methods: a method is named twice: {args.methods}")
    dataset = dataset_from_args(args, error)
    output = args.output or default_output("compare", dataset.name)

    print(dataset.summary())
    print()
    names = list(args.methods or DEFAULT_METHODS)
    print(f"Comparing {', '.join(names)} with {args.backbone}: {args.epochs} epochs, batch size "
          f"{args.batch_size}, Adam lr {args.learning_rate:g}, seeds {args.seeds}")
    sys.stdout.flush()
    result = experiment.compare(
        dataset,
        methods=names,
        backbone=args.backbone,
        epochs=args.epochs,
        seeds=args.seeds,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        verbose=args.verbose,
        progress=not args.no_progress,
        output_dir=output,
        overwrite=args.restart,
        **runtime_kwargs(args),
    )
    if len(args.seeds) > 1:
        spread = f"mean ± std over seeds {args.seeds}"
    else:
        spread = f"seed {args.seeds[0]}"
    print()
    print(f"Test split of {dataset.name} ({len(dataset.test[1])} images), {spread}:")
    print()
    print(result.table())
    print()
    paths = result.save(output)
    print(f"Saved {', '.join(sorted(os.path.basename(p) for p in paths.values()))} to {output}")
    return 0


def run_recipe(args):
    """Runs `recipes/<name>.py` as `__main__` with the remaining arguments; returns its status."""
    import runpy

    available = dict(_recipes())
    if args.recipe not in available:
        args.subparser.error(
            f"argument NAME: unknown recipe {args.recipe!r}; available: {sorted(available) or 'none'}"
        )
    path = os.path.join(_recipes_dir(), args.recipe + ".py")
    saved = sys.argv
    sys.argv = [path, *args.recipe_args]
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def main(argv=None):
    """Runs the `kerasimb` command with `argv` (defaults to `sys.argv[1:]`); returns 0.

    Bad arguments raise `SystemExit(2)` after printing the usage and a message.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        return run_list()
    if args.command == "run":
        return run_recipe(args)
    if args.command == "tune":
        from kerasimb.tuning import command as tune_command

        return tune_command.run(args, args.subparser.error)
    if args.command == "reproduce":
        from kerasimb import reproduce

        return reproduce.run(args, args.subparser.error)
    return run_compare(args, parser)


if __name__ == "__main__":
    sys.exit(main())
