"""Metric-learning two-stage training (Zeng et al., 2022): CE / +center / +triplet / +SupCon, then head-only cRW or cRS; ablation, λ sensitivity, feature plots.

Stage 1 trains the model's features and a linear head with cross-entropy plus λ · a metric loss
(center λ=0.001, triplet margin 50 λ=0.001, SupCon T=0.05 λ=1 through a 3-layer projection),
with a linear warm-up then cosine learning rate; stage 2 freezes the features and fine-tunes the
head on the training split with class re-weighting (cRW) or class-balanced re-sampling (cRS),
as in the paper: SGD from 0.1, cosine-decayed to 1e-6 over the stage-2 epochs.

Tables, laid out like the paper's:

- Table 2: every stage-1 loss with cRW and cRS: mean class recall over all classes, over the 3
  most frequent and over the 3 least frequent classes (fewer for datasets with < 6 classes),
  macro-F1; mean ± std over seeds. With --table2-extra (e.g. `--table2-extra all`) also the
  paper's other Table 2 baselines: CE-DRW, RS, RW, LDAM, LDAM → cRW, LDAM-DRW, Focal,
  Focal → cRW, CB-Focal, CB-Focal → cRW, Mixup, Mixup → cRW, CutMix, CutMix → cRW and BBN
  (simplified: see `methods.bbn`). They are off by default, to keep the default run short.
- Table 3 (ablation, unless --no-ablation): CE (one stage), CE+SC (one stage), CE → cRW,
  SC → cRW (SupCon alone in stage 1), CE+SC → cRW.
- Fig. 2 (with --sensitivity λ1 λ2 ...): the metric-loss coefficient λ of --sensitivity-loss
  against mean class recall, as a PNG.
- PCA (or t-SNE, --embedding tsne) of the stage-1 test features, coloured by class, per loss.

    kerasimb run metric_learning --dataset digits-lt --epochs 20 --seeds 0 1 2
    kerasimb run metric_learning --dataset medmnist:pneumoniamnist_lt.npz --epochs 5 --seeds 0 1

Interrupted (Ctrl-C, SIGTERM, a killed process), the same command with the same `--output`
resumes: finished runs are loaded from `<output>/compare/runs/` (two-stage runs with their
stage-1 features), the interrupted one continues from its last completed epoch; `--restart`
discards them.
"""

if __name__ == "__main__":  # `python -m kerasimb.recipes.metric_learning` is `python -m kerasimb run metric_learning`,
    import runpy  # handed over before the imports below (the command starts TensorFlow quietly)
    import sys

    sys.argv = ["kerasimb", "run", "metric_learning", *sys.argv[1:]]
    runpy.run_module("kerasimb", run_name="__main__")


import os
import sys

from kerasimb import methods, metrics, runs
from kerasimb.callbacks import FeatureSnapshot
from kerasimb.methods.optimization import describe_training
from kerasimb.methods.two_stage import PAPER_STAGE2, PAPER_STAGE2_LEARNING_RATE, TwoStageMethod
from kerasimb.recipes import paper
from kerasimb.recipes.protocol import Protocol
from kerasimb.recipes.flags import optimizer_text, training_text
from kerasimb.utils.atomic import atomic_path, write_text
from kerasimb.utils.embedding_plot import plot_embedding
from kerasimb.utils.formatting import format_stat, spread_text

DEFAULTS = {"epochs": 20, "seeds": (0, 1, 2), "batch_size": 32, "learning_rate": 1e-3}
BUDGETS = {
    "small": ["--epochs", "15", "--seeds", "0", "1", "--no-ablation", "--stage2-epochs", "5"],
    "medium": ["--epochs", "30", "--seeds", "0", "1", "2", "--no-ablation", "--stage2-epochs",
               "5"],
    "paper": ["--budget", "paper", "--seeds", "0", "1", "2", "--table2-extra", "all"],
}
PROTOCOL = Protocol(
    "§3.1 of Zeng et al., 2022",
    {"optimizer": "sgd", "learning_rate": 1e-3, "momentum": 0.9, "weight_decay": 5e-4,
     "lr_schedule": "cosine", "lr_warmup_epochs": 5, "lr_floor": 1e-6, "batch_size": 32,
     "augment": "rotate30", "epochs": 100, "image_size": 224,
     "backbone": "resnet50", "weights": "imagenet", "seeds": (0, 1, 2)},
    notes={"model": "ResNet50", "evaluation": "mean ± std over three runs"},
    budgets={"small": {"epochs": 20, "lr_warmup_epochs": 1},
             "paper": {"epochs": 100, "image_size": 224, "backbone": "resnet50",
                       "lr_warmup_epochs": 5}})
CLAIMS = [{
    "paper": "Zeng et al., two-stage metric learning, arXiv:2207.06975",
    "claim": "CE + SupCon, then head-only cRW, beats CE then cRW on mean class recall and "
             "macro-F1",
    "method": "supcon-crw",
    "baseline": "ce-crw",
    "metrics": ["balanced_accuracy", "macro_f1"],
    "paper_figures": None,
}]

LOSSES = (("CE", "ce"), ("CE + center", "center"), ("CE + triplet", "triplet"),
          ("CE + SupCon", "supcon"))
STAGE2 = (("cRW", "crw"), ("cRS", "crs"))
TABLE_METRICS = ("balanced_accuracy", "recall_most_frequent", "recall_least_frequent",
                 "macro_f1")
# The paper's other Table 2 rows, in its order, for --table2-extra: (row label, method name).
# The two-stage ones ("→ cRW") train their stage 1 with the one-stage method's batches and loss
# (LDAM on a cosine head) and share the metric-learning rows' stage 2.
EXTRA_ROWS = (("CE-DRW", "ce-drw"), ("RS", "class-sampling"), ("RW", "reweight"),
              ("LDAM", "ldam"), ("LDAM → cRW", "ldam-crw"), ("LDAM-DRW", "ldam-drw"),
              ("Focal", "focal"), ("Focal → cRW", "focal-crw"), ("CB-Focal", "cb-focal"),
              ("CB-Focal → cRW", "cb-focal-crw"), ("Mixup", "mixup"),
              ("Mixup → cRW", "mixup-crw"), ("CutMix", "cutmix"),
              ("CutMix → cRW", "cutmix-crw"), ("BBN", "bbn"))

# The paper's Tables 2 and 3, transcribed as printed (percentages, the std of "All" left out;
# `kerasimb.recipes.paper` renders them). The report relabels its runs by their row key in
# `method_rows` ("ce-crw", ..., and the ablation rows "ce", "ce+sc", "sc-crw"); the claim's two
# rows, "supcon-crw" and "ce-crw", are also the saved labels `kerasimb reproduce` reads.
PAPER_SOURCE = "Zeng et al., 2022 (arXiv:2207.06975)"
PAPER_PROTOCOL = ("ImageNet-pretrained ResNet50, 224×224 crops of 300×300 images with rotation "
                  "and flips; stage 1: SGD (momentum 0.9, weight decay 0.0005), 5 warm-up "
                  "epochs to 0.001 then cosine decay to 1e-6, up to 100 epochs; stage 2: 10 "
                  "epochs from 0.1 with cosine decay to 1e-6; mean of three runs. Major / "
                  "Minor: MCR over the 3 most frequent classes / the 3 least frequent (2 on "
                  "Skin7); ours: the same groups of our dataset's training classes")
PAPER_DATASETS = {
    "Skin7": "Skin7 (7 dermoscopy classes, imbalance ratio 58.5), ",
    "X-ray9": "X-ray9 (9 chest X-ray classes from ChestX-ray14), ",
    "PathMNIST-LT": "PathMNIST-LT (9 colon-pathology classes, 28×28, imbalance ratio 99.6), ",
}
PAPER_COLUMNS = {"balanced_accuracy": "All", "recall_most_frequent": "Major",
                 "recall_least_frequent": "Minor"}
PAPER_ROWS = {"CE": "ce", "CE → cRW": "ce-crw", "CE → cRS": "ce-crs",
              "CE+CT → cRW": "center-crw", "CE+TP → cRW": "triplet-crw",
              "CE+SC → cRW": "supcon-crw", "CE+SC (no cRW)": "ce+sc",
              "SC → cRW (no CE)": "sc-crw", **dict(EXTRA_ROWS)}


def paper_table(number, dataset, rows):
    """One dataset's columns of the paper's Table 2 or 3 as a `PAPER_TABLES` entry: `rows` is
    `{paper row: (All, Major, Minor) as printed}`."""
    return paper.table(f"Table {number} of {PAPER_SOURCE}, {dataset} columns",
                       PAPER_DATASETS[dataset] + PAPER_PROTOCOL, PAPER_COLUMNS, rows, PAPER_ROWS,
                       scale=100, baseline={row: baseline_row(row) for row in rows})


def baseline_row(row):
    """The paper row that `row` is measured against: a two-stage row with cRW against CE →
    cRW (the same stage 2, so the difference is the stage-1 loss: the paper's claim), anything
    else against plain CE.

    >>> baseline_row("CE+SC → cRW"), baseline_row("CE → cRW"), baseline_row("Focal")
    ('CE → cRW', 'CE', 'CE')
    """
    return "CE → cRW" if "→ cRW" in row and row != "CE → cRW" else "CE"


PAPER_TABLES = [
    paper_table(2, "Skin7", {
        "CE": ("83.12", "85.09", "80.06"),
        "CE → cRW": ("84.11", "85.08", "82.67"),
        "CE → cRS": ("82.17", "85.54", "80.06"),
        "CE-DRW": ("83.58", "84.46", "82.23"),
        "RS": ("81.39", "85.69", "77.89"),
        "RW": ("84.35", "86.36", "86.86"),
        "LDAM": ("84.37", "85.50", "82.23"),
        "LDAM → cRW": ("82.36", "84.35", "78.79"),
        "LDAM-DRW": ("85.21", "85.54", "84.41"),
        "Focal": ("82.66", "82.93", "81.78"),
        "Focal → cRW": ("83.62", "83.64", "86.13"),
        "CB-Focal": ("78.25", "72.52", "80.06"),
        "CB-Focal → cRW": ("76.95", "75.32", "80.06"),
        "Mixup": ("81.65", "85.39", "81.87"),
        "Mixup → cRW": ("83.37", "86.70", "81.78"),
        "CutMix": ("82.02", "86.03", "79.61"),
        "CutMix → cRW": ("84.68", "87.30", "83.51"),
        "BBN": ("73.88", "79.16", "80.51"),
        "CE+CT → cRW": ("85.24", "86.10", "83.51"),
        "CE+TP → cRW": ("86.50", "84.79", "86.13"),
        "CE+SC → cRW": ("86.43", "85.73", "91.75"),
    }),
    paper_table(2, "X-ray9", {
        "CE": ("50.20", "58.49", "41.82"),
        "CE → cRW": ("51.81", "57.58", "47.79"),
        "CE → cRS": ("51.46", "57.89", "46.50"),
        "CE-DRW": ("51.04", "58.83", "43.99"),
        "RS": ("47.86", "59.55", "38.97"),
        "RW": ("49.44", "57.59", "44.07"),
        "LDAM": ("49.07", "59.49", "40.20"),
        "LDAM → cRW": ("48.19", "59.71", "37.78"),
        "LDAM-DRW": ("52.18", "58.53", "48.94"),
        "Focal": ("49.86", "57.34", "44.48"),
        "Focal → cRW": ("51.47", "54.95", "51.51"),
        "CB-Focal": ("46.30", "42.13", "53.59"),
        "CB-Focal → cRW": ("46.42", "42.04", "55.16"),
        "Mixup": ("49.54", "59.47", "42.20"),
        "Mixup → cRW": ("50.55", "59.37", "45.17"),
        "CutMix": ("50.97", "59.34", "43.41"),
        "CutMix → cRW": ("52.87", "55.48", "53.72"),
        "BBN": ("48.11", "38.80", "61.53"),
        "CE+CT → cRW": ("52.71", "56.43", "53.29"),
        "CE+TP → cRW": ("52.93", "57.90", "48.83"),
        "CE+SC → cRW": ("52.77", "57.80", "49.49"),
    }),
    paper_table(2, "PathMNIST-LT", {
        "CE": ("84.46", "94.34", "70.21"),
        "CE → cRW": ("83.77", "90.66", "71.15"),
        "CE → cRS": ("82.26", "88.96", "70.37"),
        "CE-DRW": ("84.91", "92.40", "72.94"),
        "RS": ("84.22", "94.47", "68.08"),
        "RW": ("79.88", "77.76", "71.88"),
        "LDAM": ("80.86", "78.10", "73.31"),
        "LDAM → cRW": ("80.65", "79.52", "72.18"),
        "LDAM-DRW": ("82.08", "84.39", "72.06"),
        "Focal": ("84.62", "94.42", "71.86"),
        "Focal → cRW": ("80.83", "85.76", "69.70"),
        "CB-Focal": ("82.79", "91.72", "72.75"),
        "CB-Focal → cRW": ("79.32", "88.92", "68.63"),
        "Mixup": ("84.26", "96.73", "68.07"),
        "Mixup → cRW": ("83.01", "91.35", "68.94"),
        "CutMix": ("84.63", "95.98", "67.38"),
        "CutMix → cRW": ("85.03", "84.85", "68.61"),
        "BBN": ("84.22", "94.28", "70.79"),
        "CE+CT → cRW": ("85.81", "94.32", "74.03"),
        "CE+TP → cRW": ("86.50", "94.85", "74.12"),
        "CE+SC → cRW": ("87.45", "96.01", "76.81"),
    }),
    paper_table(3, "Skin7", {
        "CE+SC (no cRW)": ("83.56", "86.74", "80.06"),
        "SC → cRW (no CE)": ("84.36", "84.12", "86.13"),
    }),
    paper_table(3, "X-ray9", {
        "CE+SC (no cRW)": ("50.97", "60.49", "42.64"),
        "SC → cRW (no CE)": ("49.71", "54.05", "40.74"),
    }),
]


def add_arguments(parser):
    """Adds the recipe's own flags."""
    parser.add_argument("--stage2-epochs", type=int, default=10,
                        help="epochs of the head-only stage 2")
    parser.add_argument("--losses", nargs="+", choices=[p for _, p in LOSSES],
                        default=[p for _, p in LOSSES], metavar="LOSS",
                        help="stage-1 losses of Table 2 (ce, the baseline, always; default: all)")
    parser.add_argument("--no-ablation", action="store_true", help="leave out Table 3's extra rows")
    parser.add_argument("--table2-extra", nargs="*", default=[], metavar="METHOD",
                        choices=["all", *(name for _, name in EXTRA_ROWS)],
                        help="the paper's other Table 2 baselines to run as well: 'all' or "
                             "some of " + ", ".join(name for _, name in EXTRA_ROWS)
                             + " (default: none)")
    parser.add_argument("--sensitivity", type=float, nargs="*", default=[], metavar="LAMBDA",
                        help="metric-loss coefficients for the Fig. 2 sweep (default: none)")
    parser.add_argument("--sensitivity-loss", choices=("center", "triplet", "supcon"),
                        default="supcon", help="the loss whose coefficient is swept")
    parser.add_argument("--embedding", choices=("pca", "tsne"), default="pca",
                        help="2-D projection of the feature plots")
    return parser


def selected_losses(args):
    """`[(row label, prefix)]` of the stage-1 losses chosen by `--losses`, in table order."""
    chosen = getattr(args, "losses", None) or [p for _, p in LOSSES]
    return [(label, prefix) for label, prefix in LOSSES if prefix in chosen]


def selected_extra_rows(args):
    """`[(row label, method name)]` of the `--table2-extra` rows, in the paper's order."""
    chosen = set(getattr(args, "table2_extra", None) or ())
    return [(label, name) for label, name in EXTRA_ROWS if "all" in chosen or name in chosen]


def method_rows(args):
    """Returns `{key: (row label, Method)}` for Table 2, Table 3 and the sweep, in run order.

    Every two-stage row gets the paper's stage 2 (`methods.two_stage.PAPER_STAGE2`: SGD from
    0.1, cosine-decayed to 1e-6) for `--stage2-epochs` epochs.
    """
    common = {"stage2_epochs": args.stage2_epochs, "warmup_epochs": args.lr_warmup_epochs,
              "stage2_optimizer": "paper"}
    rows = {}
    for loss_label, prefix in selected_losses(args):
        for stage2_label, suffix in STAGE2:
            rows[f"{prefix}-{suffix}"] = (f"{loss_label} → {stage2_label}",
                                          methods.get(f"{prefix}-{suffix}", **common))
    if not args.no_ablation:
        rows["ce"] = ("CE", methods.get("ce-crw", **{**common, "stage2": None}))
        rows["ce+sc"] = ("CE + SC", methods.get("supcon-crw", **{**common, "stage2": None}))
        rows["sc-crw"] = ("SC → cRW", methods.get("supcon-crw", **{**common, "ce_weight": 0.0}))
    for label, name in selected_extra_rows(args):
        two_stage = isinstance(methods.get(name), TwoStageMethod)
        rows[name] = (label, methods.get(name, **(common if two_stage else {})))
    default = methods.get(f"{args.sensitivity_loss}-crw").metric_weight
    for weight in args.sensitivity:
        if weight != default:
            rows[f"lambda={weight:g}"] = (
                f"λ = {weight:g}",
                methods.get(f"{args.sensitivity_loss}-crw", **{**common, "metric_weight": weight}),
            )
    return rows


COLUMN_NAMES = {"balanced_accuracy": "mean recall (all)", "recall_most_frequent": "most frequent",
                "recall_least_frequent": "least frequent", "macro_f1": "macro-F1"}


def paper_groups(dataset):
    """`(most, least)`: how many of the most / least frequent classes Zeng et al.'s Major /
    Minor columns average, for `dataset`: 3 and 3, but 2 least frequent for the 7 classes of
    Skin7 (DermaMNIST here, the same seven lesion types); 1 and 1 for 2 classes, and at most
    half the classes otherwise.

    >>> from kerasimb.data import ImageDataset
    >>> import numpy as np
    >>> def toy(k):
    ...     x, y = np.zeros((k, 4, 4, 1), "uint8"), np.arange(k)
    ...     return ImageDataset((x, y), (x, y), (x, y), [str(i) for i in range(k)])
    >>> paper_groups(toy(7)), paper_groups(toy(9)), paper_groups(toy(2))
    ((3, 2), (3, 3), (1, 1))
    """
    k = dataset.num_classes
    if k == 7:
        return 3, 2
    return (3, 3) if k >= 6 else (max(k // 2, 1),) * 2


def regroup(result, groups):
    """Rewrites every run's `recall_most_frequent` / `recall_least_frequent` with the paper's
    group sizes (`metrics.report(group_size=groups)` on the run's stored test probabilities)."""
    counts = result.dataset["class_counts"]
    for run in result.runs:
        probabilities = result.probabilities.get((run["method"], run["seed"]))
        if probabilities is None or not run["report"]:
            continue
        figures = metrics.report(result.y_true, probabilities, class_counts=counts,
                                 group_size=groups)
        for key in ("recall_most_frequent", "recall_least_frequent"):
            run["report"][key] = figures[key]


def table(result, labelled_rows):
    """Markdown table; `labelled_rows` is `[(row label, compare label)]`; bold = best mean."""
    return result.table(TABLE_METRICS, rows=labelled_rows, bold_best=True,
                        corner="stage 1 → stage 2", column_names=COLUMN_NAMES)


def verdict(summary, labels, losses=LOSSES):
    """Sentences saying which metric-learning rows beat the CE baseline with the same stage 2."""
    lines = []
    for stage2_label, suffix in STAGE2:
        base = summary[labels[f"ce-{suffix}"]]["balanced_accuracy"]
        for loss_label, prefix in [loss for loss in losses if loss[1] != "ce"]:
            stat = summary[labels[f"{prefix}-{suffix}"]]["balanced_accuracy"]
            diff = stat["mean"] - base["mean"]
            spread = max(base["std"] or 0.0, stat["std"] or 0.0)
            if base["std"] is None or stat["std"] is None:  # a single seed: no spread
                word = "is above" if diff > 0 else ("is below" if diff < 0 else "ties with")
            elif diff > spread:
                word = "beats"
            elif diff < -spread:
                word = "is below"
            else:
                word = "is within one std of"
            lines.append(f"- {loss_label} → {stage2_label} {word} CE → {stage2_label}: "
                         f"{stat['mean']:.3f} vs {base['mean']:.3f} mean recall "
                         f"({diff:+.3f}).")
    return lines


def stage1_text(args):
    """How stage 1 was optimised: the configured schedule, or (Adam or SGD at a constant rate
    without warm-up) the method's own linear warm-up then cosine decay."""
    config = runs.compare_kwargs(args)["optimizer"]
    if config is not None and (config["lr_schedule"] != "constant" or config["warmup_epochs"]):
        return optimizer_text(args)
    return (f"{optimizer_text(args)} as the peak of the method's own schedule, "
            f"{min(args.lr_warmup_epochs, args.epochs // 2)} warm-up epochs then cosine decay")


def extra_text(extra, args):
    """The sentence under Table 2 saying how the paper's other baselines were trained."""
    names = ", ".join(label for label, _ in extra)
    config = runs.compare_kwargs(args)["optimizer"]
    constant = config is None or (config.get("lr_schedule", "constant") == "constant"
                                  and not config.get("warmup_epochs"))
    return (f"Also run, between the CE rows and the metric-learning rows as in the paper: "
            f"{names}. One-stage rows train {args.epochs} epochs with {optimizer_text(args)}"
            + (", without the warm-up and cosine decay of the two-stage rows' stage 1,"
               if constant else "")
            + " and their own loss or batches (CE-DRW and LDAM-DRW: effective-number class weights "
            "(β = 0.9999) from 80% of the epochs; LDAM: margins up to 0.5 on a cosine head "
            "with scale 30; Focal: γ = 2; RS: class-balanced sampling; RW: inverse-frequency "
            "weights; BBN: instance- and reversed-sampled branches on shared features, one "
            "Dense block each instead of a copy of the last residual block, α = 1 − (T/T_max)² "
            "per epoch, α = 0.5 at test); \"→ cRW\" rows then get the same stage 2 as the "
            "metric-learning rows.")


def plot_sensitivity(points, loss, path):
    import matplotlib.pyplot as plt

    points = sorted(points)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = [p[0] for p in points]
    ax.errorbar(xs, [p[1] for p in points], yerr=[p[2] or 0.0 for p in points], marker="o",
                capsize=3)
    ax.set_xscale("log")
    ax.set_xlabel(f"λ ({loss} loss coefficient)")
    ax.set_ylabel("mean class recall (test)")
    ax.set_title(f"Sensitivity to λ: CE + {loss} → cRW")
    fig.tight_layout()
    with atomic_path(path) as tmp:  # a killed run leaves no half-written picture
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def check_arguments(args):
    """Checks the recipe's flags before any data is loaded.

    Raises:
        ValueError: a stage-2 epoch count < 1, negative warm-up or λ, a table without its
            baseline or the ablation without SupCon, a swept loss that is not run.
    """
    if args.stage2_epochs < 1:
        raise ValueError(f"argument --stage2-epochs: expected >= 1, received {args.stage2_epochs}")
    if any(not w >= 0 for w in args.sensitivity):
        raise ValueError(f"argument --sensitivity: expected values >= 0, received "
                         f"{args.sensitivity}")
    if "ce" not in args.losses:
        raise ValueError(f"argument --losses: expected ce (the baseline) among {args.losses}")
    if not args.no_ablation and "supcon" not in args.losses:
        raise ValueError("argument --losses: Table 3's ablation needs supcon; add it or pass "
                         "--no-ablation")
    if args.sensitivity and args.sensitivity_loss not in args.losses:
        raise ValueError(f"argument --sensitivity-loss: {args.sensitivity_loss} is not among "
                         f"--losses {args.losses}")


def backbones(args):
    """The model whose minimum image size the data must meet."""
    return [args.backbone]


def run(args, dataset, output):
    """Trains Table 2 and 3's rows (and the λ sweep), writes the report; returns 0."""
    losses = selected_losses(args)
    os.makedirs(output, exist_ok=True)
    print(dataset.summary(), flush=True)

    rows = method_rows(args)
    snapshot = FeatureSnapshot(dataset.test[0])
    result = runs.compare(
        dataset, methods=[m for _, m in rows.values()], callbacks=[snapshot],
        # Resumable: each finished (method, seed) run, with its stage-1 test features, is kept
        # in compare/runs/ and an interrupted one continues from its last epoch in
        # compare/backup/, so rerunning the same command trains only what is left.
        output_dir=os.path.join(output, "compare"), **runs.compare_kwargs(args),
    )
    groups = paper_groups(dataset)
    regroup(result, groups)
    result.save(os.path.join(output, "compare"))
    labels = dict(zip(rows, result.methods))  # row key -> compare's label, same order
    keys = {label: key for key, label in labels.items()}
    summary = result.summary(TABLE_METRICS)
    spread = spread_text(args.seeds)

    extra = selected_extra_rows(args)
    main_rows = [(rows[f"{p}-{s}"][0], labels[f"{p}-{s}"]) for _, p in losses for _, s in STAGE2]
    # The paper's order: the CE rows, its other baselines, then the metric-learning rows.
    main_rows[len(STAGE2):len(STAGE2)] = [(label, labels[name]) for label, name in extra]
    table2 = table(result, main_rows)
    print(f"\nTable 2 layout ({spread}):\n{table2}")
    sections = [
        f"# Metric-learning two-stage training (Zeng et al., 2022) on {dataset.name}",
        "",
        "```",
        dataset.summary(),
        "```",
        "",
        f"Settings: `{args.backbone}` features (pooled, before the classifier) with a linear "
        f"head; stage 1: {args.epochs} epochs, batch size {args.batch_size}, "
        f"{stage1_text(args)}, instance-shuffled batches, {training_text(args)}; stage 2 "
        f"(the paper's): {args.stage2_epochs} epochs on the frozen features of the training "
        f"split, {describe_training(PAPER_STAGE2, PAPER_STAGE2_LEARNING_RATE)}, the head "
        "alone trained. cRW: inverse-frequency class weights; cRS: "
        "class-balanced re-sampling. The last epoch is evaluated on the test split "
        f"({len(dataset.test[1])} images), {spread}. \"most / least frequent\": mean recall "
        f"over the {groups[0]} most / {groups[1]} least frequent training classes, the paper's "
        "groups (3 and 3; 2 least frequent for the 7 skin-lesion classes of Skin7 / "
        "DermaMNIST; 1 each for a binary task).",
        "",
        *PROTOCOL.section(args, getattr(args, "budget", "small"), extra=[
            ("stage 2", "head only, 10 epochs, "
             + describe_training(PAPER_STAGE2, PAPER_STAGE2_LEARNING_RATE),
             f"head only, {args.stage2_epochs} epochs, "
             + describe_training(PAPER_STAGE2, PAPER_STAGE2_LEARNING_RATE)),
            ("model selection", "the last epoch", "the last epoch")]),
        "## Table 2: stage-1 loss × stage-2 re-balancing",
        "",
        table2,
        "",
        *([extra_text(extra, args), ""] if extra else []),
        "Bold: best mean. Does metric learning beat plain CE with the same stage 2 (mean class "
        "recall; \"beats\" means by more than the larger standard deviation)?",
        "",
        *verdict(summary, labels, losses),
        "",
    ]
    if not args.no_ablation:
        ablation = [("CE", labels["ce"]), ("CE + SC", labels["ce+sc"]),
                    ("CE → cRW", labels["ce-crw"]), ("SC → cRW", labels["sc-crw"]),
                    ("CE + SC → cRW", labels["supcon-crw"])]
        table3 = table(result, ablation)
        print(f"\nTable 3 layout (ablation):\n{table3}")
        sections += ["## Table 3: ablation (SC = supervised contrastive loss)", "", table3, "",
                     "CE and CE + SC are one-stage (no stage 2). In SC → cRW the head gets no "
                     "gradient in stage 1 and is trained only by the stage-2 epochs, from its "
                     f"random initialisation ({args.stage2_epochs} epochs here).", ""]

    sections += runs.report.calibration_lines(result, folder="compare")
    sweep = [(methods.get(f"{args.sensitivity_loss}-crw").metric_weight,
              labels[f"{args.sensitivity_loss}-crw"])] if args.sensitivity else []
    sweep += [(rows[k][1].metric_weight, labels[k]) for k in rows if k.startswith("lambda=")]
    if len(sweep) > 1:
        points = [(w, summary[c]["balanced_accuracy"]["mean"], summary[c]["balanced_accuracy"]["std"])
                  for w, c in sweep]
        plot_sensitivity(points, args.sensitivity_loss, os.path.join(output, "sensitivity.png"))
        lines = ["| λ | mean recall (all) |", "|---|---|"]
        lines += [f"| {w:g} | {format_stat(summary[c]['balanced_accuracy'])} |" for w, c in sorted(sweep)]
        sections += [f"## Fig. 2: sensitivity to λ (CE + {args.sensitivity_loss} → cRW)", "",
                     *lines, "", "![sensitivity](sensitivity.png)", ""]

    # Stage-1 features of the test split, first seed: one snapshot per (method, seed) run.
    n_seeds = len(args.seeds)
    sections += [f"## Stage-1 features of the test split ({args.embedding.upper()}, seed "
                 f"{args.seeds[0]})", ""]
    for loss_label, prefix in losses:
        index = list(rows).index(f"{prefix}-crw") * n_seeds
        features = snapshot.snapshots[index]
        if features is None:  # a run finished before features were kept with it
            sections += [f"{loss_label}: features not recorded (rerun with `--restart`).", ""]
            continue
        name = f"features_{prefix}.png"
        with atomic_path(os.path.join(output, name)) as tmp:
            plot_embedding(features, dataset.test[1], dataset.class_names,
                           method=args.embedding, path=tmp, title=f"stage 1: {loss_label}")
        sections += [f"![{loss_label}]({name})", ""]

    sections += [
        paper.side_by_side(
            PAPER_TABLES,
            [{**r, "method": keys.get(r["method"], r["method"]), "backbone": args.backbone}
             for r in result.runs],
            note=f"This run: {dataset.name}, `{args.backbone}`, weights "
                 f"{getattr(args, 'weights', None) or 'randomly initialised'}, {args.epochs} + "
                 f"{args.stage2_epochs} epochs, {optimizer_text(args)}, {training_text(args)}."),
        "",
        "Full report (per-class recall, confusion matrices, AUC, accuracy, training curves): "
        "[compare/report.md](compare/report.md).",
        "",
    ]
    write_text(os.path.join(output, "report.md"), "\n".join(sections))  # atomic
    print(f"\nSaved to {output}")
    return 0

