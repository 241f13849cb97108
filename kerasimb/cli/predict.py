"""`kerasimb predict`: a saved model on an image folder, an image file or an `.npz`."""

import os

from kerasimb.cli.args import (UsageError, add_tf_logs_argument, load_model_argument,
                               positive_int)

NAME = "predict"
HELP = "predict images with a saved model (CSV out)"
DESCRIPTION = ("Predict every image of a folder (searched recursively), one image file or an "
               ".npz with a model saved by `kerasimb train`, in batches, through the model's own "
               "prediction; write one CSV row per image: path, predicted class, one probability "
               "column per class (and, with --explain, one saliency overlay PNG per image).")


def add_arguments(parser):
    """Adds the flags of `kerasimb predict`."""
    parser.add_argument("--model", required=True, metavar="FILE",
                        help="a model.keras saved by kerasimb train")
    parser.add_argument("--input", required=True, metavar="PATH",
                        help="an image folder (nested or flat), an image file, or an .npz")
    parser.add_argument("--output", required=True, metavar="CSV", help="the CSV file to write")
    parser.add_argument("--batch-size", type=positive_int, default=64,
                        help="(default: %(default)s)")
    parser.add_argument("--tta", default=None, choices=("flip",),
                        help="average over the image and its horizontal flip (default: none)")
    parser.add_argument("--perturb", type=float, default=None, metavar="EPSILON",
                        help="perturb the inputs with this ε (Chen et al.; the training class "
                             "counts are in the model); a model trained with a +perturb method "
                             "is perturbed with its own ε without this flag (default: none)")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="list unreadable images in an `error` column and predict the rest "
                             "(default: stop at the first, naming it)")
    parser.add_argument("--npz-key", default=None,
                        help="the image array of an .npz (default: its only array, or `images`)")
    parser.add_argument("--explain", default=None, metavar="DIR",
                        help="write one PNG per image into DIR (created if missing): the "
                             "Grad-CAM heat map of the predicted class over the image, named "
                             "after the image file (its index for an .npz) (default: none)")
    parser.add_argument("--explain-method", default=None, choices=("gradcam", "gradient"),
                        help="the map --explain draws: gradcam (the last convolutional layer) "
                             "or gradient (the input gradient) (default: gradcam)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return add_tf_logs_argument(parser)


def run(args):
    """Predicts with the parsed flags; writes the CSV. Returns 0."""
    from kerasimb import runs

    model = load_model_argument(args.model)
    if args.perturb is not None and not args.perturb >= 0:
        raise UsageError(f"argument --perturb: expected a number >= 0, received {args.perturb}")
    folder = os.path.dirname(os.path.abspath(args.output))
    if os.path.isdir(args.output) or not os.access(folder, os.W_OK):
        raise UsageError(f"argument --output: expected a CSV file in a writable folder, "
                         f"received {args.output!r}")
    _check_explain(args)
    names, _, errors = runs.predict(
        model, args.input, output=args.output, batch_size=args.batch_size,
        tta=("horizontal",) if args.tta == "flip" else None, perturb=args.perturb,
        skip_unreadable=args.skip_unreadable, npz_key=args.npz_key,
        progress=not args.no_progress, explain=args.explain,
        explain_method=args.explain_method or "gradcam")
    done = len(names) - len(errors)
    print(f"Predicted {done} image(s)"
          + (f", {len(errors)} unreadable (see the error column)" if errors else "")
          + f"; wrote {args.output}"
          + (f" and {done} overlay(s) to {args.explain}" if args.explain is not None else ""))
    return 0


def _check_explain(args):
    """`--explain DIR`: a folder that exists or can be made, writable; `--explain-method`
    needs it."""
    if args.explain is None:
        if args.explain_method is not None:
            raise UsageError("argument --explain-method: needs --explain DIR")
        return
    if os.path.exists(args.explain) and not os.path.isdir(args.explain):
        raise UsageError(f"argument --explain: expected a folder for the overlay PNGs, received "
                         f"{args.explain!r}, which is a file")
    try:
        os.makedirs(args.explain, exist_ok=True)
    except OSError as error:
        raise UsageError(f"argument --explain: could not create the folder {args.explain!r}: "
                         f"{error.strerror}") from None
    if not os.access(args.explain, os.W_OK):
        raise UsageError(f"argument --explain: the folder {args.explain!r} is not writable")
