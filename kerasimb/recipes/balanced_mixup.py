"""Balanced-MixUp (Galdran et al., MICCAI 2021): Table 1/3 layout, instance / class / sqrt sampling, focal and class-balanced loss, Bal-Mxp alpha 0.1, 0.2, 0.3.

Every row is trained the same way (same model, epochs, batch size, Adam learning rate, seeds,
no augmentation, and, as in the paper, the epoch with the best validation score of the task's
main metric evaluated on the test split, `--select-by`); rows differ only in how batches are
drawn (or, for the loss rows, in the loss):

- instance sampling: method `ce` (shuffled epochs, q = 1)
- class sampling: `class-sampling` (q = 0); square-root sampling: `sqrt-sampling` (q = 1/2)
- focal loss: `focal`; class-balanced loss: `cb-softmax` (only if those methods are registered)
- Bal-Mxp α: `balanced-mixup` with α = 0.1, 0.2, 0.3 (λ ~ Beta(α, 1) on the class-sampled batch)

Test predictions average the softmax of each image and of its horizontal mirror, as the paper
(`--tta flip`, `runs.compare(test_time_flip=True)`; the default except on digits-lt, where a
mirrored digit is another digit, so `--tta none` there); model selection scores the plain
validation predictions.

Metrics as in the paper: quadratic kappa, MCC and Kendall τ for ordinal grades (its Eyepacs
table), MCC, balanced accuracy and macro-F1 otherwise (its Kvasir table). Several backbones run
one after the other with `--backbones` (e.g. `mobilenetv2 resnet50 --image-size 32`).

    kerasimb run balanced_mixup --dataset digits-lt --epochs 30 --seeds 0 1 2
    kerasimb run balanced_mixup --dataset medmnist:pneumoniamnist_lt.npz --epochs 10

Writes, under `--output`: one `compare` folder per backbone (metrics.json, report.md, plots), and
a top-level report.md with the paper-style table per backbone, the Beta(α, 1) densities (the
paper's Fig. 3) and the class distribution each sampler produces (closed form and measured from
the pipelines).
"""

if __name__ == "__main__":  # `python -m kerasimb.recipes.balanced_mixup` is `python -m kerasimb run balanced_mixup`,
    import runpy  # handed over before the imports below (the command starts TensorFlow quietly)
    import sys

    sys.argv = ["kerasimb", "run", "balanced_mixup", *sys.argv[1:]]
    runpy.run_module("kerasimb", run_name="__main__")


import os
import sys

import numpy as np

from kerasimb import data, methods, runs
from kerasimb.callbacks.best_weights import SELECTABLE
from kerasimb.recipes import paper
from kerasimb.recipes.protocol import Protocol
from kerasimb.recipes.flags import (add_folds_arguments, add_recalibrate_bn_argument,
                                    optimizer_text, spread_of,
                                    recalibration_callbacks, training_text)
from kerasimb.utils.atomic import write_text
from kerasimb.utils.plotting import legend_outside

DEFAULTS = {"epochs": 30, "seeds": (0, 1, 2), "batch_size": 32, "learning_rate": 1e-3}
BUDGETS = {
    "small": ["--epochs", "15", "--seeds", "0", "1", "--alphas", "0.1", "--no-loss-rows"],
    "medium": ["--epochs", "30", "--seeds", "0", "1", "2", "--alphas", "0.1", "0.2", "0.3"],
    "paper": ["--budget", "paper", "--folds", "5"],
}
PROTOCOL = Protocol(
    "§2.4 and §3.1 of Galdran et al., MICCAI 2021; the 512×512 images, 30 epochs and plain SGD "
    "(no momentum, no weight decay) are the authors' Hyper-Kvasir configuration",
    {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.0, "lr_schedule": "cyclic",
     "lr_floor": 0.0, "batch_size": 8, "augment": "standard", "epochs": 30, "image_size": 512,
     "backbone": "mobilenetv2", "weights": "imagenet", "folds": 5},
    notes={"model": "MobileNet V2 and ResNeXt-50",
           "augmentation": "standard augmentation (not detailed in the paper)",
           "evaluation": "Eyepacs: its official test split; Hyper-Kvasir: median over a "
                         "stratified 5-fold cross-validation"},
    budgets={"small": {"epochs": 30},
             "paper": {"epochs": 30, "image_size": 512, "backbone": "mobilenetv2"}})
CLAIMS = [{
    "paper": "Galdran et al., Balanced-MixUp, MICCAI 2021",
    "claim": "Balanced-MixUp (α = 0.1) beats instance sampling on quadratic kappa and MCC",
    "method": "balanced-mixup",
    "baseline": "ce",
    "metrics": ["quadratic_kappa", "mcc"],
    "paper_figures": None,
}]

ORDINAL_METRICS = ("quadratic_kappa", "mcc", "kendall_tau")
NOMINAL_METRICS = ("mcc", "balanced_accuracy", "macro_f1")

# The paper's Tables 1 (Eyepacs, ordinal) and 3 (Hyper-Kvasir, nominal), transcribed as printed
# (percentages; `kerasimb.recipes.paper` renders them). `{paper row: this recipe's run label}`:
# the α rows are the labels `runs.compare` gives when α = 0.1 is among `--alphas` (its default
# α keeps the plain label, the others get theirs); the report relabels its runs that way
# (`paper_label`), while `kerasimb reproduce` reads the labels as saved.
PAPER_SOURCE = "Galdran et al., MICCAI 2021"
PAPER_RUNS = {"Class-sampling": "class-sampling", "Instance-sampling": "ce",
              "Sqrt-sampling": "sqrt-sampling", "Focal Loss": "focal", "CB Loss": "cb-softmax",
              "Bal-Mxp α=0.1": "balanced-mixup", "Bal-Mxp α=0.2": "balanced-mixup(alpha=0.2)",
              "Bal-Mxp α=0.3": "balanced-mixup(alpha=0.3)"}
PAPER_PROTOCOL = ("SGD, batch size 8, learning rate 0.01 cyclically annealed towards 0, standard "
                  "augmentation, best validation epoch kept, predictions averaged with the "
                  "horizontally flipped image")
EYEPACS = ("Eyepacs (5 diabetic-retinopathy grades, ~35,000 training and ~55,000 official test "
           "retinal photographs, 10% of training held out for validation), {backbone}, "
           + PAPER_PROTOCOL)
KVASIR = ("Hyper-Kvasir (23 gastro-intestinal classes, 10,662 endoscopic images), median over a "
          "stratified 5-fold cross-validation, {backbone}, " + PAPER_PROTOCOL)


def paper_label(method):
    """The run label `PAPER_RUNS` uses for `method`: Bal-Mxp labelled by its α as `runs.compare`
    does when α = 0.1 runs beside it, whatever `--alphas` this run had."""
    alpha = method.params.get("alpha") if method.name == "balanced-mixup" else None
    if alpha is None or alpha == 0.1:
        return method.name
    return f"{method.name}(alpha={alpha!r})"


def paper_table(number, setting, metrics, backbone, prefer, rows):
    """One backbone block of the paper's Table 1 or 3 as a `PAPER_TABLES` entry: `rows` is
    `{paper row: figures as printed, in the order of metrics}`."""
    return paper.table(f"Table {number} of {PAPER_SOURCE}, {backbone} columns",
                       setting.format(backbone=backbone), metrics, rows, PAPER_RUNS, scale=100,
                       prefer={"backbone": prefer}, baseline="Instance-sampling",
                       ordinal=number == 1)


ORDINAL_COLUMNS = {"quadratic_kappa": "quad-κ", "mcc": "MCC", "kendall_tau": "Kendall-τ"}
NOMINAL_COLUMNS = {"mcc": "MCC", "balanced_accuracy": "B-ACC", "macro_f1": "Macro-F1"}
PAPER_TABLES = [
    paper_table(1, EYEPACS, ORDINAL_COLUMNS, "MobileNet V2", "mobilenetv2", {
        "Class-sampling": ("74.58", "49.34", "63.30"),
        "Instance-sampling": ("78.75", "61.79", "73.39"),
        "Sqrt-sampling": ("79.32", "59.66", "72.22"),
        "Focal Loss": ("78.59", "60.74", "72.70"),
        "CB Loss": ("77.84", "61.08", "72.85"),
        "Bal-Mxp α=0.1": ("79.61", "62.41", "74.05"),
        "Bal-Mxp α=0.2": ("79.43", "62.22", "73.69"),
        "Bal-Mxp α=0.3": ("78.34", "61.65", "73.25"),
    }),
    paper_table(1, EYEPACS, ORDINAL_COLUMNS, "ResNeXt-50", "resnext50", {
        "Class-sampling": ("74.45", "51.12", "64.14"),
        "Instance-sampling": ("80.17", "62.78", "74.32"),
        "Sqrt-sampling": ("79.38", "58.77", "72.22"),
        "Focal Loss": ("79.73", "62.66", "73.37"),
        "CB Loss": ("79.19", "61.83", "74.32"),
        "Bal-Mxp α=0.1": ("80.35", "63.31", "74.74"),
        "Bal-Mxp α=0.2": ("80.78", "63.78", "75.05"),
        "Bal-Mxp α=0.3": ("80.62", "63.51", "74.89"),
    }),
    paper_table(3, KVASIR, NOMINAL_COLUMNS, "MobileNet V2", "mobilenetv2", {
        "Class-sampling": ("89.74", "61.84", "61.84"),
        "Instance-sampling": ("90.49", "62.13", "62.16"),
        "Sqrt-sampling": ("90.11", "63.01", "62.66"),
        "Focal Loss": ("90.30", "62.09", "61.78"),
        "CB Loss": ("85.84", "54.93", "54.87"),
        "Bal-Mxp α=0.1": ("90.90", "63.49", "62.77"),
        "Bal-Mxp α=0.2": ("90.54", "63.44", "63.85"),
        "Bal-Mxp α=0.3": ("90.39", "64.76", "64.07"),
    }),
    paper_table(3, KVASIR, NOMINAL_COLUMNS, "ResNeXt-50", "resnext50", {
        "Class-sampling": ("88.97", "59.57", "58.40"),
        "Instance-sampling": ("90.74", "61.41", "61.69"),
        "Sqrt-sampling": ("90.29", "62.84", "62.85"),
        "Focal Loss": ("90.23", "62.12", "62.36"),
        "CB Loss": ("89.67", "63.84", "63.71"),
        "Bal-Mxp α=0.1": ("91.05", "62.55", "62.92"),
        "Bal-Mxp α=0.2": ("91.15", "62.80", "64.00"),
        "Bal-Mxp α=0.3": ("90.84", "62.34", "62.35"),
    }),
]


def add_arguments(parser):
    """Adds the recipe's own flags (and the shared `--folds`, `--fold-as-test`,
    `--test-dataset`: the paper cross-validates)."""
    add_folds_arguments(parser)
    parser.add_argument("--backbones", nargs="+", default=None, metavar="NAME",
                        help="run the table once per backbone (default: --backbone)")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                        help="Balanced-MixUp alpha values (rows)")
    parser.add_argument("--select-by", default="main", metavar="METRIC",
                        help="model selection on the validation split: 'main' (quadratic_kappa "
                             "for ordinal tasks, mcc otherwise, as the paper), a metrics.report "
                             "key, or 'none' (evaluate the last epoch)")
    parser.add_argument("--no-loss-rows", action="store_true",
                        help="leave out the focal / class-balanced loss rows")
    parser.add_argument("--tta", default=None, choices=TTA_CHOICES,
                        help="test-time augmentation: flip averages the softmax of each test "
                             "image and of its horizontal mirror, as the paper; none predicts "
                             "the image alone (default: flip, none on digits-lt)")
    add_recalibrate_bn_argument(parser)
    return parser


def check_arguments(args):
    """Checks the recipe's flags before any data is loaded.

    Raises:
        ValueError: an α <= 0, a backbone named twice, an unknown `--select-by`.
    """
    if any(not a > 0 for a in args.alphas):
        raise ValueError(f"argument --alphas: expected values > 0, received {args.alphas}")
    chosen = backbones(args)
    if len(set(chosen)) != len(chosen):
        raise ValueError(f"argument --backbones: a backbone is named twice: {chosen}")
    if args.select_by not in ("main", "none", *SELECTABLE):
        raise ValueError(f"argument --select-by: expected 'main', 'none' or one of "
                         f"{list(SELECTABLE)}, received {args.select_by!r}")


TTA_CHOICES = ("flip", "none")


def resolve_tta(args, dataset_name):
    """The test-time augmentation: `--tta`, or `"flip"` (the paper's) except on digits, where a
    mirrored digit is another digit (`"none"`).

    >>> import argparse
    >>> resolve_tta(argparse.Namespace(tta=None), "medmnist:dermamnist")
    'flip'
    >>> resolve_tta(argparse.Namespace(tta=None), "digits-lt")
    'none'
    """
    if args.tta is not None:
        return args.tta
    return "none" if dataset_name.startswith("digits") else "flip"


def tta_text(tta):
    """The report's words for the test-time augmentation `tta` (`"flip"` or `"none"`)."""
    if tta == "flip":
        return ("test predictions averaged over each image and its horizontal mirror (mean of "
                "the two softmax outputs, as the paper; model selection on the plain validation "
                "predictions)")
    return "no test-time augmentation (the paper averages each image with its horizontal mirror)"


def backbones(args):
    """The models the table is trained with: `--backbones`, else `--backbone`."""
    return list(args.backbones or [args.backbone])


def table_methods(args):
    """Returns `[(row label, Method)]` in the paper's order."""
    rows = [("instance sampling", methods.get("ce")),
            ("class sampling", methods.get("class-sampling")),
            ("sqrt sampling", methods.get("sqrt-sampling"))]
    registered = methods.names()
    if not args.no_loss_rows:
        if "focal" in registered:
            rows.append(("focal loss", methods.get("focal")))
        if "cb-softmax" in registered:
            rows.append(("class-balanced loss", methods.get("cb-softmax")))
    for alpha in args.alphas:
        rows.append((f"Bal-Mxp α={alpha:g}", methods.get("balanced-mixup", alpha=alpha)))
    return rows


def measured_distribution(x, y, pipeline, batches=40, batch_size=256):
    """Mean label mass per class over `batches` batches of a pipeline (seed 0)."""
    it = iter(pipeline(x, y, batch_size))
    return np.mean([next(it)[1].numpy().mean(axis=0) for _ in range(batches)], axis=0)


def plot_beta_densities(alphas, path):
    import matplotlib.pyplot as plt
    from scipy import stats

    lam = np.linspace(1e-3, 1.0, 500)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for alpha in alphas:
        ax.plot(lam, stats.beta(alpha, 1.0).pdf(lam),
                label=f"α={alpha:g} (E[λ]={alpha / (1 + alpha):.3f})")
    ax.set_ylim(0, 5)
    ax.set_xlabel("λ (weight of the class-sampled batch)")
    ax.set_ylabel("density")
    ax.set_title("Beta(α, 1) densities")
    legend_outside(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_distributions(names, closed, measured, path):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 0.6 * len(names) + 3), 3.8))
    positions = np.arange(len(names))
    for i, (label, values) in enumerate(closed.items()):
        line, = ax.plot(positions, values, "-", label=label)
        ax.plot(positions, measured[label], "o", color=line.get_color(), markersize=4)
    ax.set_xticks(positions)
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("label mass per class")
    ax.set_title("Effective class distribution (lines: closed form, dots: measured)")
    legend_outside(ax, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def sampler_section(dataset, alphas, output, batches=200):
    x, y = dataset.train
    counts = dataset.class_counts
    k = dataset.num_classes
    samplers = {
        "instance (q=1)": (data.effective_class_distribution(counts, "instance"),
                           lambda a, b, n: data.classification_dataset(a, b, k, n, repeat=True, seed=0)),
        "sqrt (q=1/2)": (data.effective_class_distribution(counts, "sqrt"),
                         lambda a, b, n: data.sampled_dataset(a, b, 0.5, n, k, seed=0)),
        "class (q=0)": (data.effective_class_distribution(counts, "class"),
                        lambda a, b, n: data.sampled_dataset(a, b, 0.0, n, k, seed=0)),
    }
    for alpha in alphas:
        samplers[f"Bal-Mxp α={alpha:g}"] = (
            data.effective_class_distribution(counts, "balanced-mixup", alpha=alpha),
            lambda a, b, n, alpha=alpha: data.balanced_mixup_dataset(a, b, alpha, n, seed=0,
                                                                     num_classes=k),
        )
    closed = {name: p for name, (p, _) in samplers.items()}
    measured = {name: measured_distribution(x, y, make, batches)
                for name, (_, make) in samplers.items()}
    plot_beta_densities(alphas, os.path.join(output, "beta_densities.png"))
    plot_distributions(dataset.class_names, closed, measured,
                       os.path.join(output, "class_distribution_by_sampler.png"))
    header = "| sampler | " + " | ".join(dataset.class_names) + " |"
    lines = [header, "|---" * (k + 1) + "|"]
    for name in samplers:
        cells = [f"{c:.3f} ({m:.3f})" for c, m in zip(closed[name], measured[name])]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [
        "## What each sampler feeds the network",
        "",
        "Expected label mass per class of a training batch: closed form "
        "(`data.effective_class_distribution`; Bal-Mxp: n_j/N/(1+α) + (α/(1+α))/K), with the "
        f"mass measured over {batches} batches of 256 from the actual pipeline (seed 0) in brackets. "
        "Bal-Mxp draws one λ per batch, so its measured mass carries the noise of "
        f"{batches} Beta(α, 1) draws (standard error of their mean about "
        f"{0.2 / np.sqrt(batches):.3f} for α=0.1); `tests/data/test_mixing.py` checks it "
        "statistically.",
        "",
        *lines,
        "",
        "![class distribution by sampler](class_distribution_by_sampler.png)",
        "",
        "![Beta(α, 1) densities, the paper's Fig. 3](beta_densities.png)",
        "",
    ]


def run(args, dataset, output):
    """Trains the table's rows with every backbone, writes the report; returns 0."""
    os.makedirs(output, exist_ok=True)
    print(dataset.summary(), flush=True)

    rows = table_methods(args)
    metrics = ORDINAL_METRICS if dataset.ordinal else NOMINAL_METRICS
    select_by = {"main": metrics[0], "none": None}.get(args.select_by, args.select_by)
    selection = (f"the epoch with the best validation `{select_by}` evaluated"
                 if select_by else "the last epoch evaluated")
    spread = spread_of(args)
    tta = resolve_tta(args, dataset.name)
    sections = [
        f"# Balanced-MixUp (Galdran et al., MICCAI 2021) on {dataset.name}",
        "",
        "```",
        dataset.summary(),
        "```",
        "",
        f"Settings: {args.epochs} epochs, batch size {args.batch_size}, "
        f"{optimizer_text(args)}, {training_text(args)}, {tta_text(tta)}, {selection} "
        f"on the test split ({len(dataset.test[1])} images), {spread}. Rows: "
        + ", ".join(f"{row} = `{m.name}`" + (f" (α={m.params['alpha']:g})" if "alpha" in m.params else "")
                    for row, m in rows) + "."
        + (f" BatchNorm moving statistics recomputed from the training images "
           f"({args.recalibrate_bn}, every row; `--recalibrate-bn`)." if args.recalibrate_bn else ""),
        "",
        *PROTOCOL.section(args, getattr(args, "budget", "small"), extra=[
            ("model selection", "the best validation epoch of the task's main metric "
             "(quadratic κ for DR grades, MCC for Hyper-Kvasir)",
             f"the best validation epoch of `{select_by}`" if select_by else "the last epoch",
             select_by == metrics[0]),
            ("test-time augmentation", tta_text("flip"), tta_text(tta))]),
    ]
    all_runs = []
    for backbone in backbones(args):
        print(f"\n{backbone}: {', '.join(row for row, _ in rows)}", flush=True)
        result = runs.compare(
            dataset, methods=[m for _, m in rows], select_by=select_by,
            output_dir=os.path.join(output, backbone),  # resumable
            callbacks=recalibration_callbacks(args, dataset),
            test_time_flip=tta == "flip",
            **{**runs.compare_kwargs(args), "backbone": backbone},
        )
        folder = os.path.join(output, backbone)
        result.save(folder)
        canonical = {label: paper_label(m) for (_, m), label in zip(rows, result.methods)}
        all_runs += [{**r, "method": canonical.get(r["method"], r["method"]),
                      "backbone": backbone} for r in result.runs]
        table = result.table(metrics, rows=list(zip([r for r, _ in rows], result.methods)),
                             bold_best=True, corner="")
        print(table)
        sections += [
            f"## {backbone}: test split, {spread}",
            "",
            table,
            "",
            f"Bold: best mean. Full report (per-class recall, confusion matrices, AUC, accuracy): "
            f"[{backbone}/report.md]({backbone}/report.md).",
            "",
            *runs.report.calibration_lines(result, f"{backbone}: calibration", backbone),
        ]
    sections += sampler_section(dataset, args.alphas, output)
    tables = [t for t in PAPER_TABLES if t["ordinal"] == bool(dataset.ordinal)]
    sections += [paper.side_by_side(
        tables, all_runs,
        note=f"This run: {dataset.name} ({'ordinal' if dataset.ordinal else 'nominal'} "
             f"classes, so the paper's {'Table 1' if dataset.ordinal else 'Table 3'}), "
             f"backbones {', '.join(backbones(args))}, weights "
             f"{getattr(args, 'weights', None) or 'randomly initialised'}, {args.epochs} epochs, "
             f"batch size {args.batch_size}, {optimizer_text(args)}, {training_text(args)}, "
             + ("predictions averaged with the horizontally flipped image, as the paper's."
                if tta == "flip" else "no flip averaging (`--tta none`)."))]
    write_text(os.path.join(output, "report.md"), "\n".join(sections))  # atomic
    print(f"\nSaved to {output}")
    return 0

