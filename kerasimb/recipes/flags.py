"""Flags that more than one recipe takes, beyond the shared run flags of every command."""

from kerasimb.callbacks.batch_norm import RecalibrateBatchNorm


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
    return [RecalibrateBatchNorm(dataset.train[0], batch_size=args.batch_size,
                                 when=args.recalibrate_bn)]
