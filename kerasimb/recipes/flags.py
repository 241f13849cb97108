"""Flags that more than one recipe (and `kerasimb train` / `compare`) takes, beyond the shared
run flags of every command. Light at import (no TensorFlow): the command line's parsers use it."""



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


def optimizer_text(args):
    """The optimizer the shared flags train with, for a report's settings line, e.g. `"Adam
    (learning rate 0.001)"` or `"SGD (learning rate 0.1, momentum 0.9; cosine schedule to
    0.001)"` (`methods.describe_training`)."""
    from kerasimb.methods.optimization import describe_training
    from kerasimb.runs.compare import compare_kwargs

    return describe_training(compare_kwargs(args)["optimizer"], args.learning_rate)


def optimizer_name(args):
    """The optimizer's class name alone (`"Adam"`, `"SGD"`, `"AdamW"`)."""
    return optimizer_text(args).split(" (", 1)[0]


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
