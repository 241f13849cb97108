"""QuadSNet (Ali et al., IJACSA 2021): Table II (trainable parameters) and Table III (sensitivity, specificity, accuracy, F1) against keras.applications models.

Every model is trained the same way, as in the paper: Adam at learning rate 1e-4, batch size 32,
no augmentation, instance sampling, the last epoch evaluated on the test split. QuadSNet is
trained with its class-weighted margin loss (method `quadsnet-margin`, inverse-frequency
weights); the architectures with cross-entropy (method `ce`), from random initialisation unless
`--weights imagenet` (downloads). Inputs below an architecture's minimum (InceptionV3 75,
Xception 71) are resized inside the model (`build_classifier(..., resize_to_min=True)`).
`quadsnet-ce` (QuadSNet with cross-entropy) separates the model's and the loss's shares.

    kerasimb run quadsnet --dataset medmnist:pneumoniamnist.npz --data-dir ../shared/data \\
        --image-size 32 --models quadsnet mobilenetv2 resnet50 --epochs 3 --seeds 0

Table II prints the paper's figure beside two of ours: the architecture counted as the paper
counts it (the 1000-class ImageNet model at its default input, every weight, built without
downloading anything; QuadSNet at 224×224×3 with two classes) and the trainable parameters of the
model trained here. Fig. 2 (`fig2_training_curves.png`) draws every model's training and
validation accuracy and loss per epoch, the mean over the seeds with the lowest and highest seed
shaded.

Binary tasks: sensitivity is the recall of class 1 (pneumonia, normal/benign for BreastMNIST:
the label order of the file), specificity that of class 0, F1 that of class 1. More classes
(digits-lt): macro averages (sensitivity = balanced accuracy, mean one-vs-rest specificity,
macro F1).

Interrupted (Ctrl-C, SIGTERM, a killed process), the same command with the same `--output`
resumes: each model's finished runs are loaded from `<output>/models/<model>/runs/`, the
interrupted run continues from its last completed epoch; `--restart` discards them.
"""

if __name__ == "__main__":  # `python -m kerasimb.recipes.quadsnet` is `python -m kerasimb run quadsnet`,
    import runpy  # handed over before the imports below (the command starts TensorFlow quietly)
    import sys

    sys.argv = ["kerasimb", "run", "quadsnet", *sys.argv[1:]]
    runpy.run_module("kerasimb", run_name="__main__")


import os
import sys

import keras
import numpy as np

from kerasimb import methods, models, runs
from kerasimb.models.quadsnet import DEFAULT_FILTERS, PAPER_PARAMETERS
from kerasimb.recipes import paper
from kerasimb.recipes.protocol import Protocol
from kerasimb.recipes.flags import (add_recalibrate_bn_argument, optimizer_text,
                                    recalibration_callbacks, training_text)
from kerasimb.utils.atomic import atomic_path, write_text
from kerasimb.utils.formatting import format_stat, spread_text
from kerasimb.utils.plotting import plot_mean_training_curves

DEFAULTS = {"epochs": 10, "seeds": (0,), "batch_size": 32, "learning_rate": 1e-4,
            "backbone": "quadsnet"}
BUDGETS = {
    "small": ["--epochs", "15", "--seeds", "0", "1", "--models", "quadsnet", "mobilenet",
              "--image-size", "32"],
    "medium": ["--epochs", "30", "--seeds", "0", "1", "2", "--models", "quadsnet",
               "quadsnet-ce", "mobilenet", "resnet50", "--image-size", "32"],
    "paper": ["--budget", "paper", "--seeds", "0", "1", "2"],
}
PROTOCOL = Protocol(
    "§IV.B of Ali et al., IJACSA 12(7) 2021",
    {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 32, "augment": "none",
     "backbone": "quadsnet"},
    notes={"model": "QuadSNet against six keras.applications CNNs",
           "pretrained weights": "ImageNet for the six keras.applications CNNs; none for "
                                 "QuadSNet (trained from scratch)",
           "epochs": "not stated",
           "image size": "not stated (the same for every model)",
           "evaluation": "fixed train / validation / test splits"},
    budgets={"small": {"epochs": 10}, "paper": {"epochs": 100}})
CLAIMS = [{
    "paper": "Ali et al., QuadSNet, IJACSA 12(7) 2021",
    "claim": "QuadSNet with the class-weighted margin loss beats a keras.applications CNN "
             "(MobileNet, the paper's v1, cross-entropy) on accuracy and macro-F1",
    "method": "QuadSNet + weighted margin loss",
    "baseline": "MobileNet",
    "metrics": ["accuracy", "macro_f1"],
    "paper_figures": None,
}]

ARCHITECTURES = ("densenet121", "densenet169", "inceptionv3", "mobilenet", "mobilenetv2",
                 "resnet50", "vgg16", "xception")
CHOICES = ("quadsnet", "quadsnet-ce", *ARCHITECTURES)
DISPLAY = {
    "quadsnet": "QuadSNet + weighted margin loss", "quadsnet-ce": "QuadSNet + cross-entropy",
    "densenet121": "DenseNet121", "densenet169": "DenseNet169", "inceptionv3": "InceptionV3",
    "mobilenet": "MobileNet", "mobilenetv2": "MobileNetV2", "resnet50": "ResNet50",
    "vgg16": "VGG16", "xception": "Xception",
}

# The paper's Table III, transcribed as printed (fractions; `kerasimb.recipes.paper` renders
# it). Its abbreviations name this recipe's rows (`DISPLAY`); "QN" is QuadSNet with the weighted
# margin loss. The report compares the figures `table_iii_figures` computes; `kerasimb
# reproduce` reads the saved reports, which hold accuracy (not the paper's F1 of the positive
# class).
PAPER_SOURCE = "Ali, Ali and Hussain, IJACSA 12(7) 2021"
PAPER_PROTOCOL = ("QuadSNet from scratch beside ImageNet-pretrained keras.applications models, "
                  "Adam, learning rate 0.0001, batch size 32, one train / validation / test "
                  "split, one figure per cell (no spread printed), input size not stated")
PAPER_DATASETS = {
    "Θ_1": "Θ_1, pneumonia chest X-rays (10,855 images, full resolution), ",
    "Θ_2": "Θ_2, COVID-19 CT scans (746 images), ",
    "Θ_3": "Θ_3, skin-lesion dermoscopy (3,297 images, a subset of ISIC 2019), ",
}
PAPER_COLUMNS = {"sensitivity": "Sensitivity", "specificity": "Specificity",
                 "accuracy": "Accuracy", "f1": "F_1 Score"}
PAPER_ROWS = {"DN": "densenet121", "IN": "inceptionv3", "MN": "mobilenet", "RN": "resnet50",
              "VG": "vgg16", "XC": "xception", "QN": "quadsnet"}


def paper_table(dataset, rows):
    """One dataset's block of the paper's Table III as a `PAPER_TABLES` entry: `rows` is
    `{paper row: (sensitivity, specificity, accuracy, F1) as printed}`."""
    return paper.table(f"TABLE III of {PAPER_SOURCE}, {dataset} block",
                       PAPER_DATASETS[dataset] + PAPER_PROTOCOL, PAPER_COLUMNS, rows,
                       {label: DISPLAY[PAPER_ROWS[label]] for label in rows},
                       baseline={"QN": "MN"})


PAPER_TABLES = [
    paper_table("Θ_1", {
        "DN": ("0.978", "0.875", "0.920", "0.915"), "IN": ("0.987", "0.792", "0.865", "0.846"),
        "MN": ("1.000", "0.926", "0.960", "0.958"), "RN": ("0.924", "0.771", "0.830", "0.809"),
        "VG": ("0.990", "0.952", "0.970", "0.969"), "XC": ("0.929", "0.912", "0.920", "0.919"),
        "QN": ("0.990", "0.971", "0.980", "0.980"),
    }),
    paper_table("Θ_2", {
        "DN": ("0.877", "1.000", "0.891", "0.934"), "IN": ("0.956", "1.000", "0.964", "0.977"),
        "MN": ("0.926", "1.000", "0.938", "0.961"), "RN": ("0.867", "1.000", "0.881", "0.928"),
        "VG": ("0.961", "0.949", "0.959", "0.974"), "XC": ("0.987", "0.892", "0.964", "0.976"),
        "QN": ("0.962", "1.000", "0.969", "0.980"),
    }),
    paper_table("Θ_3", {
        "DN": ("0.932", "0.734", "0.817", "0.810"), "IN": ("0.711", "0.796", "0.738", "0.785"),
        "MN": ("0.867", "0.807", "0.838", "0.848"), "RN": ("0.985", "0.504", "0.552", "0.305"),
        "VG": ("0.887", "0.804", "0.846", "0.853"), "XC": ("0.809", "0.793", "0.802", "0.821"),
        "QN": ("0.937", "0.917", "0.928", "0.945"),
    }),
]


def add_arguments(parser):
    """Adds the recipe's own flags."""
    parser.add_argument("--models", nargs="+", choices=CHOICES, default=list(CHOICES[:1]) + list(ARCHITECTURES),
                        metavar="MODEL", help=f"models to train, from {list(CHOICES)}")
    parser.add_argument("--filters", type=int, nargs="+", default=list(DEFAULT_FILTERS),
                        help="QuadSNet's filters per block")
    add_recalibrate_bn_argument(parser)
    return parser


def check_arguments(args):
    """Checks the recipe's flags before any data is loaded.

    Raises:
        ValueError: a model named twice, `--weights` the architectures cannot take (or
            `imagenet` offline), filters < 1.
    """
    if len(set(args.models)) != len(args.models):
        raise ValueError(f"argument --models: a model is named twice: {args.models}")
    for name in args.models:
        if name in ARCHITECTURES:  # --weights applies to the keras.applications architectures
            try:
                models.check_weights(name, args.weights)
            except ValueError as e:
                raise ValueError(f"argument --weights: {e}") from None
    if any(f < 1 for f in args.filters):
        raise ValueError(f"argument --filters: expected integers >= 1, received {args.filters}")


def backbones(args):
    """The models checked against the image size: QuadSNet (the architectures resize inputs
    below their minimum inside the model)."""
    return ["quadsnet"] if any(m.startswith("quadsnet") for m in args.models) else []


def model_and_method(name, args):
    """Returns `(model_fn, method)` of one row of Table III."""
    if name in ("quadsnet", "quadsnet-ce"):
        make = models.model_fn("quadsnet", filters=tuple(args.filters))
        return make, methods.get("quadsnet-margin" if name == "quadsnet" else "ce")
    make = models.model_fn(name, weights=args.weights, resize_to_min=True)
    return make, methods.get("ce")


def trainable_parameters(model):
    """The number of trainable weights of `model` (BatchNorm's moving statistics excluded)."""
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


# The paper's Table II, "#Trainable parameters", as printed. The keras.applications figures
# are the total parameters (trainable weights plus BatchNorm's moving means and variances) of
# the 1000-class ImageNet models (`imagenet_parameters`).
PAPER_TABLE_II = {"densenet121": 8_062_504, "inceptionv3": 23_851_784, "mobilenet": 4_253_864,
                  "resnet50": 25_636_712, "vgg16": 138_357_544, "xception": 22_910_480,
                  "quadsnet": PAPER_PARAMETERS}
PAPER_TABLE_II_ABBREVIATIONS = {model: label for label, model in PAPER_ROWS.items()}
APPLICATIONS = {"densenet121": "DenseNet121", "densenet169": "DenseNet169",
                "inceptionv3": "InceptionV3", "mobilenet": "MobileNet",
                "mobilenetv2": "MobileNetV2", "resnet50": "ResNet50", "vgg16": "VGG16",
                "xception": "Xception"}


def imagenet_parameters(name):
    """Parameters of a keras.applications architecture as published: the 1000-class ImageNet
    classifier at its default input size (`include_top=True`, `weights=None`: nothing is
    downloaded), the model Table II of the paper counts.

    Args:
        name: str, one of `ARCHITECTURES` (`"mobilenet"` is MobileNet v1).

    Returns:
        dict `{"total", "trainable"}` of ints: every weight (`count_params`, what
        `model.summary()` calls "Total params", BatchNorm's moving statistics included) and the
        trainable ones.

    Raises:
        ValueError: an unknown `name`.

    Example:

    >>> imagenet_parameters("mobilenet")
    {'total': 4253864, 'trainable': 4231976}
    """
    if name not in APPLICATIONS:
        raise ValueError(f"Invalid value received for argument `name`. Expected one of "
                         f"{sorted(APPLICATIONS)}. Received: name={name!r}")
    keras.backend.clear_session()
    model = getattr(keras.applications, APPLICATIONS[name])(weights=None, include_top=True,
                                                            classes=1000)
    counts = {"total": int(model.count_params()), "trainable": trainable_parameters(model)}
    del model
    keras.backend.clear_session()
    return counts


def quadsnet_parameters(filters, input_shape=(224, 224, 3), num_classes=2):
    """Parameters of `QuadSNet(input_shape, num_classes, filters=filters)` (the defaults are
    the paper's setting as far as it is known: RGB, two classes), as `imagenet_parameters`
    counts them: `{"total", "trainable"}`.

    Example:

    >>> quadsnet_parameters((56, 112, 224, 448))
    {'total': 5237432, 'trainable': 5230712}
    """
    keras.backend.clear_session()
    model = models.QuadSNet(tuple(input_shape), num_classes, filters=tuple(filters))
    counts = {"total": int(model.count_params()), "trainable": trainable_parameters(model)}
    del model
    keras.backend.clear_session()
    return counts


def table_ii(parameters, imagenet, quadsnet, filters):
    """Table II in markdown: the paper's figure, ours counted the paper's way (the 1000-class
    ImageNet model; QuadSNet at 224×224×3 and two classes) and ours as trained here; then a
    paragraph on where they agree.

    Args:
        parameters: dict `{model: trainable parameters as trained here}` (the models run).
        imagenet: dict `{architecture: imagenet_parameters(...)}`.
        quadsnet: `quadsnet_parameters(filters)`.
        filters: QuadSNet's filters per block.

    Returns:
        list of str, the markdown lines.
    """
    names = [*PAPER_TABLE_II, *[n for n in [*parameters, *imagenet] if n not in PAPER_TABLE_II]]
    names = list(dict.fromkeys(names))
    lines = ["| abbr. | model | paper (#trainable parameters) | ours, the paper's count: total "
             "(trainable) | ours as trained here (trainable) |", "|---|---|---|---|---|"]
    for name in names:
        counted = quadsnet if name.startswith("quadsnet") else imagenet.get(name)
        paper_figure = PAPER_TABLE_II.get(name)
        lines.append(
            f"| {PAPER_TABLE_II_ABBREVIATIONS.get(name, '')} | {DISPLAY[name]} | "
            f"{'' if paper_figure is None else f'{paper_figure:,}'} | "
            + ("" if counted is None else f"{counted['total']:,} ({counted['trainable']:,})")
            + f" | {f'{parameters[name]:,}' if name in parameters else 'not run'} |")
    compared = [n for n in PAPER_TABLE_II if n in imagenet]
    equal = [DISPLAY[n] for n in compared if imagenet[n]["total"] == PAPER_TABLE_II[n]]
    differ = [f"{DISPLAY[n]} ({imagenet[n]['total'] - PAPER_TABLE_II[n]:+,})"
              for n in compared if imagenet[n]["total"] != PAPER_TABLE_II[n]]
    text = []
    if compared:
        text.append(
            "Ours counted as the 1000-class ImageNet classifiers at their default input size, "
            "every weight included (BatchNorm's moving means and variances too, which are not "
            "trained), "
            + (f"equal the paper's figures exactly for {', '.join(equal)}" if equal
               else "match none of the paper's figures")
            + (f"; they differ for {', '.join(differ)}" if differ else "")
            + (". So the paper's \"#Trainable parameters\" are the total parameters of the "
               "published ImageNet models, not of the models it trained on its data."
               if equal else ".")
            + " The models trained here have this dataset's classifier and input, hence the "
            "last column.")
    gap_total = quadsnet["total"] - PAPER_PARAMETERS
    gap_trainable = quadsnet["trainable"] - PAPER_PARAMETERS
    text.append(
        f"QuadSNet counted at 224×224×3 with two classes (the count does not depend on the "
        f"input size) with filters {tuple(filters)} per block and the classifier "
        f"`kerasimb.models.QuadSNet` uses by default: {quadsnet['total']:,} parameters in all "
        f"({gap_total:+,}, {100 * gap_total / PAPER_PARAMETERS:+.2f}% from the paper's "
        f"{PAPER_PARAMETERS:,}), {quadsnet['trainable']:,} trainable ({gap_trainable:+,}, "
        f"{100 * gap_trainable / PAPER_PARAMETERS:+.2f}%). The paper states neither the "
        "filters per block nor the classifier, so its QuadSNet cannot be rebuilt exactly: no "
        "doubling or constant filter schedule (with a linear classifier or one hidden layer of "
        "up to 2,048 units) gives its figure "
        "exactly, counted either way. Counted as the other rows are (all weights), the total is "
        "the figure to set beside the paper's.")
    return lines + [line for paragraph in text for line in ("", paragraph)]


def table_iii_figures(report, num_classes):
    """Sensitivity, specificity, accuracy and F1 from one test report (see module docstring)."""
    cm = np.asarray(report["confusion_matrix"], dtype=np.float64)  # rows: true, columns: predicted
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    tn = cm.sum() - tp - fp - fn
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = tp / (tp + fn)
        specificity = tn / (tn + fp)
        f1 = 2 * tp / (2 * tp + fp + fn)
    if num_classes == 2:
        return {"sensitivity": recall[1], "specificity": recall[0], "accuracy": report["accuracy"],
                "f1": f1[1]}
    return {"sensitivity": np.nanmean(recall), "specificity": np.nanmean(specificity),
            "accuracy": report["accuracy"], "f1": np.nanmean(f1)}



FIG2 = "fig2_training_curves.png"


def training_histories(result):
    """`{model: [history of each seed]}` of a comparison, diverged runs left out."""
    return {label: [run["history"] for run in result.runs_of(label)
                    if not run.get("diverged") and run.get("history")]
            for label in result.methods}


def training_curves(result, path):
    """Draws Fig. 2 (training and validation accuracy and loss per epoch, mean over seeds with
    the min-max band, `utils.plotting.plot_mean_training_curves`) to `path`; returns the
    figure, or `None` when no run logged an epoch."""
    histories = {label: runs for label, runs in training_histories(result).items() if runs}
    if not histories:
        return None
    with atomic_path(path) as tmp:
        return plot_mean_training_curves(
            histories, metrics=("accuracy", "loss"), band="minmax", path=tmp,
            title=f"{result.dataset['name']}: training (solid) and validation (dashed)")


def run(args, dataset, output):
    """Counts parameters (Table II), trains every model (Table III), writes the report;
    returns 0."""
    print(dataset.summary(), flush=True)

    # Table II: trainable parameters of every model at this dataset's input and classes.
    parameters = {}
    for name in args.models:
        make, _ = model_and_method(name, args)
        keras.backend.clear_session()
        parameters[name] = trainable_parameters(make(dataset.image_shape, dataset.num_classes))
    # ... and counted as the paper counts them: the 1000-class ImageNet models, all weights.
    imagenet = {name: imagenet_parameters(name) for name in APPLICATIONS
                if name in PAPER_TABLE_II or name in args.models}
    quadsnet = quadsnet_parameters(args.filters)

    # Table III: one compare() per model, merged into one ComparisonResult.
    records, probabilities, labels, first, seconds = [], {}, {}, None, {"total": 0.0, "wall": 0.0}
    for name in args.models:
        make, method = model_and_method(name, args)
        print(f"Training {DISPLAY[name]} ({parameters[name]:,} trainable parameters) ...",
              flush=True)
        result = runs.compare(
            dataset, methods=[method], callbacks=recalibration_callbacks(args, dataset),
            # Resumable: a rerun of the same command loads this model's finished runs and
            # continues an interrupted one from its last epoch; --restart discards them.
            output_dir=os.path.join(output, "models", name),
            **{**runs.compare_kwargs(args), "backbone": make, "weights": None},  # in `make`
        )
        first = first or result
        seconds["total"] += result.settings["total_seconds"]
        seconds["wall"] += result.settings["wall_seconds"]
        label = DISPLAY[name]
        labels[label] = {"class": type(method).__name__, "params": dict(method.params),
                         "description": f"{method.description}; model {make!r}"}
        records += [{**record, "method": label} for record in result.runs]
        for (_, seed), probs in result.probabilities.items():
            probabilities[(label, seed)] = probs
    settings = {**first.settings, "methods": labels, "total_seconds": round(seconds["total"], 3),
                "wall_seconds": round(seconds["wall"], 3),
                "finished": result.settings["finished"],
                "backbone": "one per row (see methods)", "models": list(args.models)}
    merged = runs.ComparisonResult(first.dataset, settings, records, first.y_true, probabilities)
    merged.save(output)

    # The paper's tables, laid out as in the paper.
    curves = training_curves(merged, os.path.join(output, FIG2))
    figures = {}
    for label in merged.methods:
        reports = [r["report"] for r in merged.runs
                   if r["method"] == label and not r.get("diverged")]  # diverged: no scores
        per_seed = [table_iii_figures(r, dataset.num_classes) for r in reports]
        figures[label] = {k: [f[k] for f in per_seed] for k in ("sensitivity", "specificity", "accuracy", "f1")}
        figures[label]["balanced_accuracy"] = [r["balanced_accuracy"] for r in reports]
        figures[label]["auc"] = [r.get("auc") for r in reports]
    columns = ("sensitivity", "specificity", "accuracy", "f1", "balanced_accuracy", "auc")
    table_iii = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for label, values in figures.items():
        table_iii.append(f"| {label} | " + " | ".join(format_stat(values[c]) for c in columns) + " |")
    spread = spread_text(args.seeds)
    section = [
        "",
        *PROTOCOL.section(args, getattr(args, "budget", "small"), extra=[
            ("QuadSNet's loss", "the class-weighted margin loss (Eq. 2)",
             "the class-weighted margin loss (squared hinge, as Sabour et al.)")]),
        "## The paper's tables",
        "",
        "### Table II: trainable parameters",
        "",
        *table_ii(parameters, imagenet, quadsnet, args.filters),
        "",
        "### Fig. 2: training and validation accuracy and loss per epoch",
        "",
        *([f"Every model on {dataset.name}, "
           + (f"the mean over {len(args.seeds)} seeds (shaded: the lowest and highest seed)"
              if len(args.seeds) > 1 else f"seed {args.seeds[0]}")
           + "; solid: training split, dashed: validation split. The training figures are "
           "the running means over each epoch's batches (with dropout on), the validation "
           "ones are measured after the epoch. Each model's loss is the one it is trained with "
           "(the weighted margin loss is on another scale than cross-entropy).", "",
           f"![Fig. 2]({FIG2})"]
          if curves else ["No model logged a finished epoch."]),
        "",
        f"### Table III: test split of {dataset.name}, {spread}",
        "",
        f"{args.epochs} epochs, {optimizer_text(args)}, batch size {args.batch_size}, "
        f"{training_text(args)}, weights {args.weights or 'random (no pre-training)'}, input "
        f"{tuple(dataset.image_shape)}, BatchNorm moving statistics "
        + (f"recomputed from the training images ({args.recalibrate_bn}, every model)."
           if args.recalibrate_bn else "as training left them (no --recalibrate-bn)."),
        "",
        *table_iii,
        "",
        paper.side_by_side(
            PAPER_TABLES,
            [{**r, "report": {**r["report"], **table_iii_figures(r["report"], dataset.num_classes)}}
             for r in merged.runs if not r.get("diverged")],
            note=f"This run: {dataset.name}, input {tuple(dataset.image_shape)}, weights "
                 f"{args.weights or 'randomly initialised'}, {args.epochs} epochs. The paper's "
                 "pneumonia set Θ_1 is the Kermany et al. chest X-ray collection, the source "
                 "of PneumoniaMNIST (28×28): the task matches, the resolution does not. For two "
                 "classes sensitivity and F1 are those of class 1, specificity the recall of "
                 "class 0; otherwise means over the classes."),
        "",
    ]
    report = os.path.join(output, "report.md")
    with open(report, encoding="utf-8") as f:
        write_text(report, f.read() + "\n".join(section))  # atomic
    print("\n".join(section))
    print(f"Saved to {output}")
    return 0

