"""The flags every training command and recipe shares, and turning them into library calls.

`add_run_arguments(parser, **defaults)` adds --dataset, --backbone, --epochs, --seeds,
--batch-size, --learning-rate, --image-size, --data-dir, --download, --output, --verbose,
--no-progress, --restart, --stop-on-divergence, --mixed-precision, --distribute, --jit-compile
and --tf-logs; a recipe passes its own defaults (its paper's protocol). `load_dataset(args)` checks them and loads the
dataset, `output_folder(args, ...)` checks `--output`; `runs.compare_kwargs(args)` turns them
into `runs.compare` keyword arguments.

Nothing here imports TensorFlow at module level, so that `kerasimb --help` and `kerasimb list`
start in well under a second; the library is imported by the functions that use it.
"""

import argparse
import inspect

from kerasimb.recipes.flags import add_folds_arguments  # noqa: F401  (re-exported for compare)

# Defaults of `kerasimb compare`, chosen so that the bare command trains the default methods
# on digits-lt (242 training images of 28x28) with 3 seeds in about two minutes on a 2-core CPU:
# SmallCNN reaches ~100% training accuracy in 30 epochs of Adam at its usual 1e-3 (8 steps an
# epoch at batch size 32), and 3 seeds give a mean ± std rather than one noisy number.
DEFAULTS = {
    "dataset": "digits-lt",
    "backbone": "small_cnn",
    "epochs": 30,
    "seeds": (0, 1, 2),
    "batch_size": 32,
    "learning_rate": 1e-3,
}
# The training configuration's defaults (a recipe passes its paper's, `recipes.protocol`).
TRAINING_DEFAULTS = {
    "optimizer": "adam",
    "momentum": None,
    "nesterov": False,
    "weight_decay": None,
    "lr_schedule": "constant",
    "lr_warmup_epochs": 0,
    "lr_floor": 0.0,
    "augment": "none",
    "image_size": None,
}


class UsageError(Exception):
    """A mistake on the command line: `kerasimb` prints `kerasimb: error: <message>` and exits
    with status 2."""


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line, `<prog>: error: <message>`, status 2 (no
    usage block: `--help` shows it)."""

    def error(self, message):
        raise UsageError(message)


def positive_int(text):
    """argparse type: an integer >= 1."""
    return _int(text, 1)


def non_negative_int(text):
    """argparse type: an integer >= 0."""
    return _int(text, 0)


def _int(text, minimum):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= {minimum}, received {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, received {value}")
    return value


def positive_float(text):
    """argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, received {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, received {text!r}")
    return value


def non_negative_float(text):
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, received {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, received {text!r}")
    return value


def momentum_float(text):
    """argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1), received {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), received {text!r}")
    return value


def shard_argument(text):
    """argparse type of `--shard K/N`: returns `(K, N)`, integers with 1 <= K <= N.

    >>> shard_argument("2/3")
    (2, 3)
    >>> shard_argument("0/3")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected K/N with 1 <= K <= N, received 0/3
    """
    parts = text.split("/")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        k, n = (int(p) for p in parts)
        if 1 <= k <= n:
            return k, n
    raise argparse.ArgumentTypeError(f"expected K/N with 1 <= K <= N, received {text}")


def add_run_arguments(parser, **defaults):
    """Adds the flags shared by every training command and recipe to `parser`.

    Args:
        parser: an `argparse.ArgumentParser`.
        **defaults: defaults for `dataset`, `backbone`, `epochs`, `seeds`, `batch_size`,
            `learning_rate` and the training configuration's flags (`TRAINING_DEFAULTS`: each
            recipe passes its paper's protocol). Missing keys take `DEFAULTS` and
            `TRAINING_DEFAULTS`.

    With `--output`, a rerun of the same command resumes (finished runs are loaded, an
    interrupted one continues from its last epoch); `--restart` starts afresh.
    """
    known = {**DEFAULTS, **TRAINING_DEFAULTS}
    unknown = sorted(set(defaults) - set(known))
    if unknown:
        raise TypeError(f"add_run_arguments got unknown defaults {unknown}; known: "
                        f"{sorted(known)}")
    d = {**known, **defaults}
    parser.add_argument("--dataset", default=d["dataset"],
                        help="dataset name (see `kerasimb list`) (default: %(default)s)")
    parser.add_argument("--backbone", default=d["backbone"],
                        help="model: small_cnn, quadsnet or a keras.applications backbone "
                             "(default: %(default)s)")
    parser.add_argument("--epochs", type=positive_int, default=d["epochs"],
                        help="training epochs (default: %(default)s)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", metavar="SEED",
                        default=list(d["seeds"]),
                        help="one run per seed (default: %(default)s)")
    parser.add_argument("--batch-size", type=positive_int, default=d["batch_size"],
                        help="(default: %(default)s)")
    parser.add_argument("--learning-rate", type=positive_float, default=d["learning_rate"],
                        help="learning rate (the base rate of --lr-schedule) "
                             "(default: %(default)s)")
    parser.add_argument("--optimizer", default=d["optimizer"], choices=("adam", "sgd", "adamw"),
                        help="optimizer (default: %(default)s)")
    parser.add_argument("--momentum", type=momentum_float, default=d["momentum"],
                        help="SGD momentum, in [0, 1) (default: 0.9 with --optimizer sgd)")
    parser.add_argument("--nesterov", action="store_true", default=d["nesterov"],
                        help="SGD with Nesterov momentum")
    parser.add_argument("--weight-decay", type=non_negative_float, default=d["weight_decay"],
                        help="decoupled weight decay (Keras' weight_decay) (default: none; "
                             "Keras' 0.004 with --optimizer adamw)")
    parser.add_argument("--lr-schedule", default=d["lr_schedule"],
                        choices=("constant", "cosine", "step", "cyclic"),
                        help="learning-rate schedule: cosine decay to --lr-floor, step (x0.1 "
                             "every quarter of the run), cyclic (cosine to --lr-floor restarted "
                             "every quarter of the run) (default: %(default)s)")
    parser.add_argument("--lr-warmup-epochs", type=non_negative_int, default=d["lr_warmup_epochs"],
                        metavar="EPOCHS",
                        help="linear learning-rate warm-up epochs (default: %(default)s)")
    parser.add_argument("--lr-floor", type=non_negative_float, default=d["lr_floor"],
                        help="lowest learning rate of the cosine, step and cyclic schedules, "
                             "below --learning-rate (default: %(default)s)")
    parser.add_argument("--weights", default=None, metavar="imagenet|PATH",
                        help="pretrained weights of a keras.applications backbone: imagenet "
                             "(downloads; needs the network) or a local weights file (default: "
                             "none, random initialisation)")
    parser.add_argument("--augment", default=d["augment"],
                        choices=("none", "flip", "hflip", "rotate30", "standard"),
                        help="augment the training images: flip (horizontal and vertical "
                             "flips), hflip (horizontal flip), rotate30 (horizontal flip, "
                             "±30° rotation, crop), standard (flips, ±15° rotation, crop, and "
                             "colour jitter for RGB) (default: %(default)s)")
    parser.add_argument("--freeze-backbone", nargs="?", const=True, default=None,
                        type=positive_int, metavar="EPOCHS",
                        help="train the head on the frozen pretrained backbone (needs "
                             "--weights) for EPOCHS epochs, then fine-tune every layer; with "
                             "no EPOCHS it stays frozen throughout (default: nothing frozen)")
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="write TensorBoard logs of every run under DIR (default: none)")
    parser.add_argument("--image-size", type=positive_int, default=d["image_size"],
                        help="resize images to this height and width when loading "
                             "(backbones need at least 32) (default: the dataset's own)")
    parser.add_argument("--data-dir", default=None,
                        help="where the dataset's files are, for medmnist: and tfds: "
                             "(default: the loader's own)")
    parser.add_argument("--download", action="store_true",
                        help="download the dataset if missing (medmnist:, tfds:; needs network)")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="output folder; rerunning the same command with it resumes "
                             "(default: a new runs/<command>-<dataset>-<timestamp>)")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=0,
                        help="Keras fit verbosity (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--restart", action="store_true",
                        help="discard the finished runs and backups saved in --output instead of "
                             "resuming from them")
    parser.add_argument("--stop-on-divergence", action="store_true",
                        help="stop with an error when a run's loss becomes NaN or infinite "
                             "(default: record the run as diverged and go on with the others)")
    parser.add_argument("--mixed-precision", nargs="?", const="auto", default="float32",
                        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                        metavar="POLICY",
                        help="Keras dtype policy: float32, mixed_float16, mixed_bfloat16; the "
                             "bare flag means auto (mixed_float16 on a GPU, mixed_bfloat16 "
                             "otherwise) (default: %(default)s)")
    parser.add_argument("--distribute", default="none",
                        choices=("none", "mirrored", "multiworker", "tpu"),
                        help="tf.distribute strategy; --batch-size is then the global batch "
                             "(default: %(default)s)")
    parser.add_argument("--jit-compile", default="auto", choices=("auto", "on", "off"),
                        help="XLA for the training steps; auto: on a GPU only "
                             "(default: %(default)s)")
    add_tf_logs_argument(parser)
    return parser


def add_file_backed_arguments(parser):
    """Adds `--file-backed` and `--verify-images` (folder datasets kept on disk) to `train`,
    `compare` and `tune`."""
    parser.add_argument("--file-backed", action="store_true",
                        help="folder: datasets too large for memory: keep the training images "
                             "on disk and decode each batch's files as it is drawn")
    parser.add_argument("--verify-images", action="store_true",
                        help="with --file-backed: decode every training file once before "
                             "training, so a damaged file stops the load, not the training")
    return parser


def add_calibrate_argument(parser):
    """Adds `--calibrate` (temperature scaling fitted on the validation split) to `train` and
    `compare`."""
    parser.add_argument("--calibrate", action="store_true",
                        help="fit a temperature on the validation split after training and "
                             "apply it to the probabilities (stored in the saved model); the "
                             "report shows the calibration before and after")
    return parser


def add_tf_logs_argument(parser):
    """Adds `--tf-logs` (show TensorFlow's C++ and absl log lines, hidden by default)."""
    parser.add_argument("--tf-logs", action="store_true",
                        help="show TensorFlow's C++ and absl log lines (hidden by default)")
    return parser


def check_distribute(args):
    """Builds the `--distribute` strategy now, so that a strategy this machine cannot run (e.g.
    `tpu` without a TPU) is a usage error before any data is loaded."""
    from kerasimb.utils import runtime

    try:
        runtime.make_strategy(args.distribute)
    except ValueError as e:
        raise UsageError(f"argument --distribute: {e}") from None


def check_optimizer(args):
    """`--momentum`/`--nesterov` need `--optimizer sgd`; `--lr-floor` needs a decaying
    `--lr-schedule` and must be below `--learning-rate`; warm-up at most `--epochs`."""
    optimizer = getattr(args, "optimizer", "adam")
    if optimizer != "sgd" and getattr(args, "momentum", None) is not None:
        raise UsageError(f"argument --momentum: needs --optimizer sgd, received --optimizer "
                         f"{optimizer}")
    if optimizer != "sgd" and getattr(args, "nesterov", False):
        raise UsageError(f"argument --nesterov: needs --optimizer sgd, received --optimizer "
                         f"{optimizer}")
    floor = getattr(args, "lr_floor", 0.0)
    if floor and getattr(args, "lr_schedule", "constant") == "constant":
        raise UsageError("argument --lr-floor: needs --lr-schedule cosine|step|cyclic")
    if floor and floor >= args.learning_rate:
        raise UsageError(f"argument --lr-floor: expected below --learning-rate "
                         f"{args.learning_rate}, received {floor}")
    warmup = getattr(args, "lr_warmup_epochs", 0)
    if warmup and warmup > args.epochs:
        raise UsageError(f"argument --lr-warmup-epochs: expected at most --epochs "
                         f"{args.epochs}, received {warmup}")


def check_freeze_backbone(args):
    """`--freeze-backbone` needs `--weights` and, with EPOCHS, fewer than `--epochs`."""
    freeze = getattr(args, "freeze_backbone", None)
    if freeze is None:
        return
    if not getattr(args, "weights", None):
        raise UsageError("argument --freeze-backbone: needs --weights imagenet|PATH (a frozen "
                         "randomly initialised backbone learns nothing)")
    if freeze is not True and freeze >= args.epochs:
        raise UsageError(f"argument --freeze-backbone: expected fewer frozen epochs than "
                         f"--epochs {args.epochs} (leave EPOCHS out to freeze it throughout), "
                         f"received {freeze}")


def load_model_argument(path):
    """`runs.load_model(path)` for `--model`: a file that is not a kerasimb model is a
    `UsageError` naming the flag."""
    from kerasimb import runs

    try:
        return runs.load_model(path)
    except ValueError as e:
        raise UsageError(f"argument --model: {e}") from None


def method_names(values, option="--methods"):
    """Splits `--methods ce,focal reweight` into names, checks each is registered (modifiers
    such as `ce+perturb` allowed) and named once; returns the list.

    Raises:
        UsageError: an empty list, an unknown or a repeated name.
    """
    from kerasimb import methods

    names = [m.strip() for item in values for m in item.split(",") if m.strip()]
    if not names:
        raise UsageError(f"argument {option}: expected at least one method name, "
                         f"received {' '.join(values)!r}")
    unknown = []
    for name in names:
        try:
            methods.get(name)
        except ValueError:
            unknown.append(name)
    if unknown:
        raise UsageError(f"argument {option}: unknown method(s) {unknown}; registered: "
                         f"{methods.names()} (modifiers: "
                         f"{', '.join('+' + m for m in methods.MODIFIERS.names())})")
    if len(set(names)) != len(names):
        raise UsageError(f"argument {option}: a method is named twice: {names}")
    return names


def _loader(name, data):
    """The loader function `data.load_dataset` would use for `name`, or `None`."""
    for key in data.DATASETS:
        if name == key or (key.endswith(":") and name.startswith(key)):
            return data.DATASETS.get(key)
    return None


def check_backbone(name, image_shape=None, dataset_name=""):
    """Checks that `name` is a model and, given an image shape, that the images are large
    enough for it.

    Raises:
        UsageError: an unknown model, or images below the model's minimum size.
    """
    from kerasimb import models

    if name not in models.MODELS:
        raise UsageError(f"argument --backbone: unknown model {name!r}; choose from "
                         f"{models.MODELS.names()}")
    min_size = models.min_input_size(name)
    if image_shape is not None and min_size is not None:
        if min(image_shape[:2]) < min_size:
            raise UsageError(f"argument --backbone: {name} needs images of at least "
                             f"{min_size}x{min_size}; {dataset_name} has "
                             f"{tuple(image_shape[:2])}. Add --image-size {min_size}.")


def load_dataset(args, backbones=None):
    """Checks the shared run flags and loads the dataset they name; returns the `ImageDataset`.

    Args:
        args: `argparse.Namespace` from a parser built with `add_run_arguments`.
        backbones: the models the images must suit (default: `[args.backbone]`).

    Raises:
        UsageError: repeated seeds, an unknown backbone, a flag that does not apply to the
            dataset, a dataset that cannot be loaded, images too small for a backbone, or
            `--batch-size` larger than the training split.
    """
    from kerasimb import data, models

    if len(set(args.seeds)) != len(args.seeds):
        raise UsageError(f"argument --seeds: expected distinct seeds, received {args.seeds}")
    check_freeze_backbone(args)
    check_optimizer(args)
    backbones = [args.backbone] if backbones is None else list(backbones)
    for backbone in backbones:
        check_backbone(backbone)
        if backbones == [args.backbone] and getattr(args, "weights", None):
            try:
                models.check_weights(backbone, args.weights)
            except ValueError as e:
                raise UsageError(f"argument --weights: {e}") from None
    check_distribute(args)
    load_kwargs = _load_kwargs(args)
    if getattr(args, "verify_images", False) and not getattr(args, "file_backed", False):
        raise UsageError("argument --verify-images: needs --file-backed (a dataset loaded into "
                         "memory has every file decoded already)")
    if getattr(args, "file_backed", False):
        load_kwargs["file_backed"] = True
        if args.verify_images:
            load_kwargs["verify_images"] = True
    loader = _loader(args.dataset, data)
    if loader is not None:
        accepted = inspect.signature(loader).parameters
        for key in load_kwargs:
            if key not in accepted:
                flag = "--" + key.replace("_", "-")
                raise UsageError(f"argument {flag}: does not apply to dataset {args.dataset!r}")
    try:
        dataset = data.load_dataset(args.dataset, **load_kwargs)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(f"argument --dataset: could not load {args.dataset!r}: {e}") from None
    for backbone in backbones:
        check_backbone(backbone, dataset.image_shape, dataset.name)
    if args.batch_size > len(dataset.train[1]):
        raise UsageError(f"argument --batch-size: expected at most the {len(dataset.train[1])} "
                         f"training images of {dataset.name}, received {args.batch_size}")
    return dataset


def output_folder(args, command, dataset_name):
    """`--output`, or a new `runs/<command>-<dataset>-<timestamp>`, checked to be a writable
    folder; sets `args.output` (the interrupt message names it) and returns it.

    Raises:
        UsageError: `--output` is a file or not writable.
    """
    from kerasimb.runs import check_output_dir, default_output

    path = args.output or default_output(command, dataset_name)
    try:
        check_output_dir(path, name="output")
    except ValueError as e:
        raise UsageError(f"argument --output: {e}") from None
    args.output_given = args.output is not None
    args.output = path
    return path


class DefaultSeeds(list):
    """The `--seeds` default, told apart from seeds given on the command line (`--folds` takes
    the first of the default seeds, and refuses several given ones)."""


def mark_default_seeds(parser):
    """Makes `parser`'s `--seeds` default a `DefaultSeeds` (after `add_run_arguments`)."""
    parser.set_defaults(seeds=DefaultSeeds(parser.get_default("seeds")))
    return parser


def check_folds(args):
    """Checks `--folds`, `--fold-as-test` and `--seeds` together, before anything is loaded.

    With `--folds` and `--seeds` left at its default (a parser marked by
    `mark_default_seeds`), `args.seeds` becomes the first default seed.

    Raises:
        UsageError: `--folds` below 2, `--fold-as-test` without `--folds` or with fewer than 3,
            `--folds` with more than one seed given.
    """
    folds = getattr(args, "folds", None)
    if folds is not None and len(args.seeds) > 1 and isinstance(args.seeds, DefaultSeeds):
        args.seeds = [args.seeds[0]]  # --seeds not given: the first default seed
    if folds is not None and folds < 2:
        raise UsageError(f"argument --folds: expected an integer >= 2, received {folds}")
    if getattr(args, "fold_as_test", False):
        if folds is None:
            raise UsageError("argument --fold-as-test: needs --folds K (it tests on each "
                             "held-out fold)")
        if folds < 3:
            raise UsageError(f"argument --folds: expected at least 3 with --fold-as-test (one "
                             f"fold tests, one validates, the rest train), received {folds}")
    if folds is not None and len(args.seeds) > 1:
        raise UsageError(f"argument --seeds: expected a single seed with --folds (it seeds the "
                         f"split and every fold's training), received {args.seeds}")


def _load_kwargs(args):
    """The loader keyword arguments that `--data-dir`, `--image-size` and `--download` set."""
    load_kwargs = {}
    if args.data_dir is not None:
        load_kwargs["data_dir"] = args.data_dir
    if args.image_size is not None:
        load_kwargs["image_size"] = args.image_size
    if args.download:
        load_kwargs["download"] = True
    return load_kwargs


def load_test_dataset(args, dataset):
    """Loads `--test-dataset` like `--dataset` (same `--data-dir`, `--image-size`,
    `--download`) and checks it can test models trained on `dataset`; returns the
    `ImageDataset`, or `None` without `--test-dataset`.

    Raises:
        UsageError: a dataset that cannot be loaded, other class names or image shape.
    """
    from kerasimb import data

    name = getattr(args, "test_dataset", None)
    if name is None:
        return None
    if not isinstance(name, str):  # loaded already
        return name
    load_kwargs = _load_kwargs(args)
    loader = _loader(name, data)
    if loader is not None:
        accepted = inspect.signature(loader).parameters
        load_kwargs = {k: v for k, v in load_kwargs.items() if k in accepted}
    try:
        external = data.load_dataset(name, **load_kwargs)
    except (ValueError, TypeError, OSError) as e:
        raise UsageError(f"argument --test-dataset: could not load {name!r}: {e}") from None
    if list(external.class_names) != list(dataset.class_names):
        raise UsageError(f"argument --test-dataset: expected the classes of {dataset.name} "
                         f"{list(dataset.class_names)}, received {name!r} with classes "
                         f"{list(external.class_names)}")
    if tuple(external.image_shape) != tuple(dataset.image_shape):
        raise UsageError(f"argument --test-dataset: expected images of shape "
                         f"{tuple(dataset.image_shape)} like {dataset.name} (pass --image-size), "
                         f"received {name!r} with images of shape {tuple(external.image_shape)}")
    return external
