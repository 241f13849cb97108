"""Flags that more than one recipe (and `kerasimb train` / `compare`) takes, beyond the shared
run flags of every command. Light at import (no TensorFlow): the command line's parsers use it."""



def add_folds_arguments(parser):
    """Adds `--folds K`, `--fold-as-test` and `--test-dataset NAME` (stratified K-fold
    cross-validation and an external test set, `runs.compare(folds=, fold_as_test=,
    test_dataset=)`) to `compare` and the recipes that reuse them."""
    parser.add_argument("--folds", type=int, default=None, metavar="K",
                        help="stratified K-fold cross-validation (K >= 2) instead of one run "
                             "per seed: train and validation images pooled, fold i validates, "
                             "the test split is the same for every fold; one seed (the single "
                             "--seeds value, or the first default one) seeds the split and "
                             "every fold's training; the report "
                             "gives mean ± std and the median over the folds")
    parser.add_argument("--fold-as-test", action="store_true",
                        help="with --folds K (K >= 3): pool train, validation and test images; "
                             "fold i tests, fold i+1 validates, the rest train (figures over K "
                             "different test sets)")
    parser.add_argument("--test-dataset", default=None, metavar="NAME",
                        help="an external test set (a dataset name, as --dataset, loaded with "
                             "the same --image-size and --data-dir): every trained model is "
                             "also scored on its test split, in a report section of its own")
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
    """`[RecalibrateBatchNorm(training images)]` with `--recalibrate-bn`, else `[]`."""
    if not args.recalibrate_bn:
        return []
    from kerasimb.callbacks.batch_norm import RecalibrateBatchNorm

    return [RecalibrateBatchNorm(dataset.train[0], batch_size=args.batch_size,
                                 when=args.recalibrate_bn)]


def spread_of(args):
    """How a recipe's figures are summarised: over `--folds` (with the shared fold flags) or
    over `--seeds`, for a report's sentence."""
    from kerasimb.utils.formatting import spread_text

    folds = getattr(args, "folds", None)
    if folds and hasattr(args, "fold_as_test"):
        where = ("each fold's held-out images tested" if args.fold_as_test
                 else "train+val pooled, the test split fixed")
        return (f"mean ± std over {folds} folds of a stratified cross-validation ({where}; "
                f"the medians are in each comparison's report)")
    return spread_text(args.seeds)


def optimizer_text(args):
    """The optimizer the shared flags train with, for a report's settings line, e.g. `"Adam
    (learning rate 0.001)"` or `"SGD (learning rate 0.1, momentum 0.9; cosine schedule to
    0.001)"` (`methods.describe_training`)."""
    from kerasimb.methods.optimization import describe_training
    from kerasimb.runs.compare import compare_kwargs

    return describe_training(compare_kwargs(args)["optimizer"], args.learning_rate)


def training_text(args):
    """How the shared `--augment` and `--freeze-backbone` flags trained the models, for a
    report's settings line, e.g. `"no augmentation"` or `"random horizontal and vertical flips,
    backbone frozen for 2 epochs then fine-tuned"`."""
    from kerasimb.runs.report import AUGMENT_TEXT

    augment = getattr(args, "augment", "none")
    text = "no augmentation" if augment == "none" else AUGMENT_TEXT[augment]
    freeze = getattr(args, "freeze_backbone", None)
    if freeze is True:
        text += ", backbone frozen throughout (head only)"
    elif freeze:
        text += f", backbone frozen for {freeze} epoch{'s' * (freeze != 1)} then fine-tuned"
    return text
