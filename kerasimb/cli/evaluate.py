"""`kerasimb evaluate`: a saved model scored on a dataset's split, with the full report."""

from kerasimb.cli.args import (UsageError, add_tf_logs_argument, load_model_argument,
                               positive_int)

NAME = "evaluate"
HELP = "score a saved model on a dataset (report, JSON and CSV)"
DESCRIPTION = ("Score a model saved by `kerasimb train` on a split of a dataset (loaded at the "
               "model's image size) through the model's own prediction, and write report.md, "
               "metrics.json, summary.csv, per_class.csv, predictions.csv, the confusion matrix "
               "and ROC / precision-recall curves.")


def add_arguments(parser):
    """Adds the flags of `kerasimb evaluate`."""
    parser.add_argument("--model", required=True, metavar="FILE",
                        help="a model.keras saved by kerasimb train")
    parser.add_argument("--dataset", required=True, help="dataset name (see `kerasimb list`)")
    parser.add_argument("--split", default="test", choices=("test", "val", "train"),
                        help="(default: %(default)s)")
    parser.add_argument("--data-dir", default=None,
                        help="where the dataset's files are, for medmnist: and tfds:")
    parser.add_argument("--batch-size", type=positive_int, default=256,
                        help="(default: %(default)s)")
    parser.add_argument("--output", default=None, metavar="DIR",
                        help="report folder (default: runs/evaluate-<dataset>-<timestamp>)")
    parser.add_argument("--restart", action="store_true",
                        help="replace another evaluation (or experiment) held in --output: "
                             "the files it wrote (listed in its manifest.json) are removed")
    return add_tf_logs_argument(parser)


def run(args):
    """Evaluates with the parsed flags; prints the main figures. Returns 0."""
    from kerasimb import runs
    from kerasimb.cli.args import output_folder

    model = load_model_argument(args.model)
    output = output_folder(args, "evaluate", args.dataset)
    load_kwargs = {} if args.data_dir is None else {"data_dir": args.data_dir}
    try:
        dataset = runs.dataset_for(model, args.dataset, load_kwargs)
    except (ValueError, OSError) as e:
        raise UsageError(f"argument --dataset: {e}") from None
    result = runs.evaluate(model, dataset, split=args.split, output_dir=output,
                           batch_size=args.batch_size, overwrite=args.restart)
    print(f"{model.metadata.get('method', 'model')} on the {args.split} split of {dataset.name} "
          f"({len(getattr(dataset, args.split)[1])} images):")
    for key in runs.shown_metrics(result, dataset.ordinal):
        print(f"  {key}: {result[key]:.4f}")
    print(f"\nSaved report.md, metrics.json, CSV files and plots to {output}")
    return 0
