"""AdUni (Cong et al., MLMI 2022): Table 1 (CE / focal / LDAM-DRW / logit adjustment / balanced softmax / SupCon two-stage / PaCo / PaCo + AduC / AdUni) and Table 2 (AdUni with samplers), accuracy and macro-F1.

Every row is trained the same way (same model, epochs, batch size, Adam learning rate, seeds,
last epoch evaluated on the test split); rows differ in the loss and, for the contrastive rows,
in the model, the pipeline and the sampler:

Table 1 (methods; rows whose method is not registered are left out):

- CE: `ce`; focal: `focal`; LDAM: `ldam-drw`; logit-adjusted: `logit-adjusted`;
  balanced softmax: `balanced-softmax`; SupCon two-stage: `supcon-crw`
- PaCo: `paco` (the unified loss with constant α = 0.02 and a memory queue of the last 1024
  examples' features, as the paper's PaCo); PaCo + AduC: `paco-aduni` (the same queue with AduC's
  α schedule); `--paco-queue Q` sets both queues (0: the batch alone)
- AdUni without AduC: `aduni-fixed-alpha` (the same loss with α fixed at 1.0, the ablation)
- AdUni: `aduni` (α from 1.0 to 0.01 by the authors' compounding schedule stretched to the run's
  length, `--schedule stretched`; `--schedule cosine` for a smooth re-derivation of the paper's
  Eq. 3)
- ablation: `aduni` with α = 0 throughout (no feature term; `--no-ablation` leaves it out)

Table 2 (samplers, `--samplers`): AdUni with no sampler (the Table 1 row), with up-sampling
(class-balanced, q = 0), square-root sampling (q = 1/2) and progressive sampling (instance →
class over the epochs): `aduni` with `sampling=0.0 / 0.5 / "progressive"`. `--sampler-baselines`
adds CE with the same samplers (`class-sampling`, `sqrt-sampling`, `progressive-sampling`).
`--fixed-alpha-block` adds Table 2's other block, α held at 0.01 throughout:
`aduni-fixed-alpha` with `alpha=0.01`, without a sampler and with each of `--samplers`.
`--samplers none` leaves the sampler rows out.

The contrastive rows train on two augmented views per image (flips, rotation, crop, colour
jitter); the other rows on one augmented image (`--augment`, by default `standard`: flips,
±15° rotation, crop, colour jitter), since the paper re-implements its baselines "with the same
setting". The views' flips follow the paper (horizontal and vertical) except on digits-lt, where
a flipped digit is another digit (`--flip none` there by default).

    kerasimb run aduni --dataset digits-lt --epochs 30 --seeds 0 1
    kerasimb run aduni --dataset medmnist:pneumoniamnist_lt.npz --epochs 8 --batch-size 64

Writes, under `--output`: the `compare` folder (metrics.json, report.md, plots), and report.md
with the two paper-style tables, the α schedules over the run's epochs (closed forms, and α as
logged by the AdUni runs) as alpha_schedule.png, per-class F1 bars of every row (the paper's
Fig. 5) as per_class_f1.png, the mean test cross-entropy of each class for the CE and AdUni
models, classes sorted by training count (the paper's Fig. 2), as class_losses.png and a table,
a t-SNE (`--embedding pca` for PCA) of the encoder features of up
to `--feature-samples` test images for every row trained with `models.AdUni` (first seed; the
paper's Fig. 4) as features_<k>.png, and the paper's published figures for context. The
feature pictures come from a `callbacks.FeatureSnapshot` passed to `compare`; callbacks are part
of a resumable run's settings, so an output folder made before this picture existed resumes
only with `--no-features` (or starts over with `--restart`).
"""

if __name__ == "__main__":  # `python -m kerasimb.recipes.aduni` is `python -m kerasimb run aduni`,
    import runpy  # handed over before the imports below (the command starts TensorFlow quietly)
    import sys

    sys.argv = ["kerasimb", "run", "aduni", *sys.argv[1:]]
    runpy.run_module("kerasimb", run_name="__main__")


import argparse
import os
import sys

import numpy as np

from kerasimb import methods, runs
from kerasimb.callbacks import AlphaSchedule, FeatureSnapshot
from kerasimb.methods.aduni import UnifiedContrastiveMethod
from kerasimb.recipes import paper
from kerasimb.recipes.protocol import Protocol
from kerasimb.recipes.flags import (add_folds_arguments, optimizer_text, spread_of,
                                    training_text)
from kerasimb.utils.atomic import write_text
from kerasimb.utils.class_figures import model_features, per_class_f1, plot_per_class_f1
from kerasimb.utils.embedding_plot import plot_embedding
from kerasimb.utils.plotting import integer_ticks, legend_outside

DEFAULTS = {"epochs": 15, "seeds": (0, 1), "batch_size": 64, "learning_rate": 1e-3}
BUDGETS = {
    "small": ["--epochs", "15", "--seeds", "0", "1", "--rows", "ce", "paco", "aduni",
              "--no-ablation", "--samplers", "none"],
    "medium": ["--epochs", "30", "--seeds", "0", "1", "2"],
    "paper": ["--budget", "paper", "--folds", "5", "--fixed-alpha-block"],
}
PROTOCOL = Protocol(
    "§3.2 of Cong et al., MLMI 2022; momentum 0.9 and weight decay 0.0001 are the authors' "
    "code's",
    {"optimizer": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
     "lr_schedule": "cosine", "lr_floor": 1e-3, "batch_size": 128, "augment": "standard",
     "epochs": 400,
     "image_size": 384, "backbone": "resnet18", "folds": 5},
    notes={"model": "ResNet18",
           "augmentation": "resize, random affine transformation, horizontal and vertical "
                           "flips, colour jitter for every method (two views per image for "
                           "the contrastive rows)"},
    budgets={"small": {"epochs": 15},
             "paper": {"epochs": 400, "image_size": 384, "backbone": "resnet18"}})
CLAIMS = [{
    "paper": "Cong et al., AdUni, MLMI 2022",
    "claim": "AduC (adaptive unified contrastive loss) beats cross-entropy on accuracy and "
             "macro-F1",
    "method": "aduni",
    "baseline": "ce",
    "metrics": ["accuracy", "macro_f1"],
    "paper_figures": "ISIC2018: AdUni 87.1% accuracy, 79.0% macro-F1; APTOS2019: 83.3%, "
                     "69.4% (ResNet-18, 384x384, 400 epochs; the authors' README)",
}]

METRICS = ("accuracy", "macro_f1", "balanced_accuracy")

# (row label, method name), the paper's Table 1 order; rows whose method is not registered are
# left out.
ROWS = (
    ("CE", "ce"),
    ("Focal loss", "focal"),
    ("LDAM-DRW", "ldam-drw"),
    ("Logit adjustment", "logit-adjusted"),
    ("Balanced softmax", "balanced-softmax"),
    ("SupCon two-stage (cRW)", "supcon-crw"),
    ("PaCo (queue, α = 0.02)", "paco"),
    ("PaCo + AduC (queue)", "paco-aduni"),
    ("AdUni without AduC (α = 1 fixed)", "aduni-fixed-alpha"),
    ("AdUni (AduC)", "aduni"),
)
# Ablation: AdUni's model, views and loss with α = 0 throughout (no feature term): isolates
# the contrastive feature learning from the augmentation and the logit-adjusted class term.
ABLATION = ("AdUni, α = 0 (no feature term)", "aduni", {"schedule": None, "alpha": 0.0})
# Table 2's constant-α block: `aduni-fixed-alpha` with this α (`--fixed-alpha-block`).
FIXED_ALPHA = 0.01
FIXED_ROW = f"AdUni, α = {FIXED_ALPHA:g} fixed"
FIXED_LABEL = f"aduni-fixed-alpha(alpha={FIXED_ALPHA!r})"
# Table 2: (flag, row suffix, `sampling` of `aduni`, the CE method with the same sampler).
SAMPLERS = (
    ("up", "up-sampling (class-balanced, q = 0)", 0.0, "class-sampling"),
    ("sqrt", "square-root sampling (q = ½)", 0.5, "sqrt-sampling"),
    ("progressive", "progressive sampling (instance → class)", "progressive",
     "progressive-sampling"),
)
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")


class SamplersAction(argparse.Action):
    """`--samplers up sqrt ...` keeps the names given; `--samplers none` stores `[]` (no Table 2
    sampler rows). `none` beside a sampler's name is refused: it could only be a slip."""

    def __call__(self, parser, namespace, values, option_string=None):
        if "none" in values and len(values) > 1:
            raise argparse.ArgumentError(
                self, f"`none` means no sampler rows and cannot be combined with samplers, "
                      f"received {' '.join(values)}")
        setattr(namespace, self.dest, [] if values == ["none"] else list(values))

# The paper's Tables 1 and 2, transcribed as printed (fractions; `kerasimb.recipes.paper`
# renders them). The report relabels its runs (`paper_label`): Table 1's rows by their method
# name, the sampler rows as "aduni+<flag>", the constant-α rows (`--fixed-alpha-block`) as
# "aduni-fixed-alpha(alpha=0.01)" and "aduni-fixed-alpha(alpha=0.01)+<flag>"; the claim's "aduni"
# and "ce" are also the saved labels `kerasimb reproduce` reads. Our "paco" keeps the paper's
# queue of 1024 keys (without a momentum encoder).
PAPER_SOURCE = "Cong et al., MLMI 2022"
PAPER_PROTOCOL = ("ResNet18 at 384×384, 5-fold cross-validation, 400 epochs, batch size 128, "
                  "learning rate 0.1 with cosine decay to 0.001, affine / flip / colour-jitter "
                  "augmentation, α from 1 to 0.01")
PAPER_DATASETS = {"ISIC2018": "ISIC2018 (7 skin-lesion classes, 10,015 images of 450×600), ",
                  "APTOS2019": "APTOS2019 (5 diabetic-retinopathy grades), "}
PAPER_COLUMNS = {"accuracy": "Acc", "macro_f1": "Macro F1"}
PAPER_ROWS = {"CE": "ce", "PaCo": "paco", "PaCo+AduC": "paco-aduni",
              "AdUni w/o AduC": "aduni-fixed-alpha",
              "AdUni": "aduni", "α 1 → 0.01, w/o sampling": "aduni",
              "α 1 → 0.01, up-sampling": "aduni+up", "α 1 → 0.01, SqRt sampling": "aduni+sqrt",
              "α 1 → 0.01, ProBal sampling": "aduni+progressive",
              "α 0.01, w/o sampling": FIXED_LABEL, "α 0.01, up-sampling": FIXED_LABEL + "+up",
              "α 0.01, SqRt sampling": FIXED_LABEL + "+sqrt",
              "α 0.01, ProBal sampling": FIXED_LABEL + "+progressive"}


def paper_table(number, dataset, rows):
    """One dataset's columns of the paper's Table 1 or 2 as a `PAPER_TABLES` entry: `rows` is
    `{paper row: (Acc, Macro F1) as printed}` (the means; the ± spreads are left out)."""
    return paper.table(f"Table {number} of {PAPER_SOURCE}, {dataset} columns",
                       PAPER_DATASETS[dataset] + PAPER_PROTOCOL, PAPER_COLUMNS, rows, PAPER_ROWS,
                       baseline="CE" if number == 1 else "α 0.01, w/o sampling")


PAPER_TABLES = [
    paper_table(1, "ISIC2018", {
        "CE": ("0.841", "0.701"), "PaCo": ("0.864", "0.768"), "PaCo+AduC": ("0.869", "0.773"),
        "AdUni w/o AduC": ("0.876", "0.778"), "AdUni": ("0.878", "0.805"),
    }),
    paper_table(1, "APTOS2019", {
        "CE": ("0.813", "0.603"), "PaCo": ("0.825", "0.680"), "PaCo+AduC": ("0.828", "0.687"),
        "AdUni w/o AduC": ("0.826", "0.682"), "AdUni": ("0.839", "0.695"),
    }),
    paper_table(2, "ISIC2018", {
        "α 0.01, w/o sampling": ("0.867", "0.760"),
        "α 0.01, up-sampling": ("0.876", "0.782"),
        "α 0.01, SqRt sampling": ("0.869", "0.769"),
        "α 0.01, ProBal sampling": ("0.873", "0.767"),
        "α 1 → 0.01, up-sampling": ("0.886", "0.808"),
        "α 1 → 0.01, SqRt sampling": ("0.877", "0.776"),
        "α 1 → 0.01, ProBal sampling": ("0.880", "0.793"),
    }),
    paper_table(2, "APTOS2019", {
        "α 0.01, w/o sampling": ("0.822", "0.675"),
        "α 0.01, up-sampling": ("0.830", "0.684"),
        "α 0.01, SqRt sampling": ("0.789", "0.643"),
        "α 0.01, ProBal sampling": ("0.787", "0.641"),
        "α 1 → 0.01, up-sampling": ("0.841", "0.711"),
        "α 1 → 0.01, SqRt sampling": ("0.823", "0.676"),
        "α 1 → 0.01, ProBal sampling": ("0.810", "0.682"),
    }),
]


def paper_label(row, label):
    """The label `PAPER_TABLES` uses for the run of table row `row` (saved as `label`)."""
    names = dict(ROWS)
    if row in names:
        return names[row]
    if row == FIXED_ROW:
        return FIXED_LABEL
    flags = {f"AdUni + {suffix}": flag for flag, suffix, _, _ in SAMPLERS}
    fixed = {f"{FIXED_ROW} + {suffix}": flag for flag, suffix, _, _ in SAMPLERS}
    if row in fixed:
        return f"{FIXED_LABEL}+{fixed[row]}"
    return f"aduni+{flags[row]}" if row in flags else label



def add_arguments(parser):
    """Adds the recipe's own flags (and the shared `--folds`, `--fold-as-test`,
    `--test-dataset`: the paper cross-validates)."""
    add_folds_arguments(parser)
    parser.add_argument("--rows", nargs="+", default=None, metavar="METHOD",
                        help="method names to run (default: the table's rows that are registered)")
    parser.add_argument("--schedule", default="stretched",
                        choices=("stretched", "cosine", "compounding", "linear", "step"),
                        help="AduC's α schedule (stretched: the authors' compounding schedule "
                             "resampled to the run's length; cosine: a smooth re-derivation of "
                             "the paper's Eq. 3) (default: %(default)s)")
    parser.add_argument("--flip", default=None, choices=FLIPS,
                        help="flips of the contrastive views (default: none on digits-lt, "
                             "horizontal_and_vertical otherwise, as the paper)")
    parser.add_argument("--no-ablation", action="store_true",
                        help="leave out the AdUni α = 0 ablation row")
    parser.add_argument("--paco-queue", type=int, default=1024, metavar="Q",
                        help="the memory queue of the PaCo and PaCo + AduC rows, in keys; 0 for "
                             "the batch alone (default: %(default)s, the paper's PaCo)")
    parser.add_argument("--samplers", nargs="+", default=[s[0] for s in SAMPLERS],
                        choices=[*(s[0] for s in SAMPLERS), "none"], metavar="SAMPLER",
                        action=SamplersAction,
                        help="Table 2: AdUni with these samplers (up, sqrt, progressive; "
                             "default: all three), or `none` for no sampler rows")
    parser.add_argument("--sampler-baselines", action="store_true",
                        help="Table 2 also trains CE with the same samplers")
    parser.add_argument("--fixed-alpha-block", action="store_true",
                        help=f"Table 2's constant-α block: AdUni with α = {FIXED_ALPHA:g} "
                             "throughout (aduni-fixed-alpha), without a sampler and with each "
                             "of --samplers")
    parser.add_argument("--embedding", default="tsne", choices=("tsne", "pca"),
                        help="2-D projection of the learned features (default: t-SNE, as Fig. 4)")
    parser.add_argument("--feature-samples", type=int, default=600, metavar="N",
                        help="test images whose features are pictured (default: 600)")
    parser.add_argument("--no-features", action="store_true",
                        help="no feature snapshot / picture (resumes folders made without it)")
    return parser


def check_arguments(args):
    """Checks the recipe's flags before any data is loaded.

    Raises:
        ValueError: an unknown `--rows` method, a negative queue or sample count.
    """
    for name in args.rows or ():
        try:
            methods.get(name)
        except ValueError:
            raise ValueError(f"argument --rows: unknown method {name!r}; choose from "
                             f"{methods.names()}") from None
    if args.paco_queue < 0:
        raise ValueError(f"argument --paco-queue: expected >= 0, received {args.paco_queue}")
    if args.feature_samples < 1:
        raise ValueError(f"argument --feature-samples: expected >= 1, received "
                         f"{args.feature_samples}")


def backbones(args):
    """The model whose minimum image size the data must meet."""
    return [args.backbone]


def resolve_flip(args, dataset_name):
    """The flip of the views: `--flip`, or none for digits, both flips (the paper) otherwise."""
    flip = args.flip
    if flip is None:
        flip = "none" if dataset_name.startswith("digits") else "horizontal_and_vertical"
    return flip


def _contrastive(name, views, args, **params):
    """`methods.get(name)` with the recipe's views, and `--schedule` if it has a schedule."""
    method = methods.get(name, **params)
    if isinstance(method, UnifiedContrastiveMethod):
        extra = dict(views)
        if method.params["schedule"] is not None and "schedule" not in params:
            extra["schedule"] = args.schedule
        method = methods.get(name, **params, **extra)
    return method


def table_methods(args, flip="horizontal_and_vertical"):
    """Returns `[(row label, Method)]` of Table 1 in the paper's order (plus the ablation, then
    any `--rows` names outside the table)."""
    registered = methods.names()
    wanted = None if args.rows is None else [  # aliases (aduc) select their method's row
        methods.METHODS.canonical(n) if n in methods.METHODS else n for n in args.rows]
    views = {"augment": {"flip": None if flip == "none" else flip}}
    rows = []
    for label, name in ROWS:
        if name not in registered or (wanted is not None and name not in wanted):
            continue
        queue = {"queue_size": args.paco_queue} if name in ("paco", "paco-aduni") else {}
        rows.append((label, _contrastive(name, views, args, **queue)))
    if not args.no_ablation and (wanted is None or "aduni" in wanted):
        label, name, params = ABLATION
        rows.append((label, _contrastive(name, views, args, **params)))
    if wanted is not None:
        for name in [n for n in wanted if n not in [name for _, name in ROWS]]:
            rows.append((name, _contrastive(name, views, args)))
    return rows


def sampler_methods(args, flip="horizontal_and_vertical"):
    """Returns `[(row label, Method)]`: Table 2's AdUni-with-a-sampler rows (`--samplers`), then
    with `--fixed-alpha-block` its constant-α block (`aduni-fixed-alpha`, α = 0.01, without a
    sampler and with each of the samplers), then CE with the same samplers
    (`--sampler-baselines`)."""
    views = {"augment": {"flip": None if flip == "none" else flip}}
    chosen = [s for s in SAMPLERS if s[0] in args.samplers]
    rows = [(f"AdUni + {suffix}", _contrastive("aduni", views, args, sampling=q))
            for _, suffix, q, _ in chosen]
    if args.fixed_alpha_block:
        rows.append((FIXED_ROW, _contrastive("aduni-fixed-alpha", views, args,
                                             alpha=FIXED_ALPHA)))
        rows += [(f"{FIXED_ROW} + {suffix}",
                  _contrastive("aduni-fixed-alpha", views, args, alpha=FIXED_ALPHA, sampling=q))
                 for _, suffix, q, _ in chosen]
    if args.sampler_baselines:
        rows += [(f"CE + {suffix}", methods.get(name)) for _, suffix, _, name in chosen
                 if name in methods.names()]
    return rows


def table2_rows(rows, labels, samplers):
    """`[(display name, label)]` of Table 2: per model (AdUni with α = 0.01 fixed, as the
    paper's first block, then AdUni with α 1 → 0.01, then CE), no sampler first, then the
    samplers in Table 2's order; only rows that ran."""
    by_row = dict(zip([r for r, _ in rows], labels))
    out = []
    for model, plain in ((FIXED_ROW, FIXED_ROW), ("AdUni", "AdUni (AduC)"), ("CE", "CE")):
        group = [(f"{model} + {suffix}", f"{model} + {suffix}")
                 for flag, suffix, _, _ in SAMPLERS if flag in samplers]
        group = [(name, by_row[row]) for name, row in group if row in by_row]
        if not group and model != FIXED_ROW:  # (the constant-α block may run without samplers)
            continue
        if plain in by_row:
            out.append((f"{model}, no sampling", by_row[plain]))
        out += group
    return out


def logged_alphas(result, label):
    """α per epoch as logged by the runs of `label` (first seed), or `None`."""
    for run in result.runs:
        if run["method"] == label and "alpha" in run["history"]:
            return run["history"]["alpha"]
    return None


def class_f1(result, labels):
    """`{label: (mean F1 per class, std per class)}` over the seeds, from the confusion matrices."""
    out = {}
    for label in labels:
        scores = np.array([per_class_f1(run["report"]["confusion_matrix"])
                           for run in result.runs
                           if run["method"] == label and not run.get("diverged")])
        if not len(scores):  # every run of the method diverged: no scores
            scores = np.full((1, len(result.dataset["class_names"])), np.nan)
        out[label] = (np.nanmean(scores, axis=0) if len(scores) > 1 else scores[0],
                      np.nanstd(scores, axis=0) if len(scores) > 1 else np.zeros(scores.shape[1]))
    return out


def class_losses(result, label, eps=1e-7):
    """Mean cross-entropy of each class on the test split (the paper's Fig. 2), from the stored
    test probabilities of the runs of `label`: per seed, the mean of −log p_y over the test
    images of each class (p_y, the predicted probability of the true class, clipped below at
    `eps`), then the mean and std of those means over the seeds.

    Args:
        result: a `ComparisonResult` (or any object with `runs`, `probabilities` keyed by
            `(label, seed)`, `y_true` and `dataset["num_classes"]`).
        label: str, the run label.
        eps: float > 0, the floor of p_y (a probability of exactly 0 would give an infinite
            loss). Defaults to `1e-7`.

    Returns:
        `(means, stds)`, float arrays `(C,)` (NaN for a class without test images), or `None`
        when no run of `label` has stored probabilities (none ran, or every one diverged).

    Example:

    >>> from types import SimpleNamespace
    >>> fake = SimpleNamespace(
    ...     runs=[{"method": "ce", "seed": 0}], y_true=np.array([0, 0, 1]),
    ...     probabilities={("ce", 0): np.array([[0.5, 0.5], [1.0, 0.0], [0.75, 0.25]])},
    ...     dataset={"num_classes": 2})
    >>> means, stds = class_losses(fake, "ce")                   # (ln 2 + 0) / 2, ln 4
    >>> means.round(4).tolist(), stds.tolist()
    ([0.3466, 1.3863], [0.0, 0.0])
    """
    y = np.asarray(result.y_true)
    k = int(result.dataset["num_classes"])
    per_seed = []
    for run in result.runs:
        key = (run["method"], run["seed"])
        if run["method"] != label or key not in result.probabilities:
            continue
        p_true = np.asarray(result.probabilities[key], np.float64)[np.arange(len(y)), y]
        losses = -np.log(np.maximum(p_true, eps))
        per_seed.append([losses[y == c].mean() if np.any(y == c) else np.nan
                         for c in range(k)])
    if not per_seed:
        return None
    per_seed = np.asarray(per_seed)
    return per_seed.mean(axis=0), per_seed.std(axis=0)


def class_order(class_counts):
    """Class indices from the most to the fewest training images (ties: by index)."""
    return sorted(range(len(class_counts)), key=lambda c: (-class_counts[c], c))


def class_loss_table(losses, class_names, class_counts):
    """Markdown table of `class_losses` per row: one line per class, the classes from the most
    to the fewest training images, then the spread (largest − smallest class mean).

    Args:
        losses: dict row name -> `(means, stds)` of `class_losses`.
        class_names: list of `C` str. class_counts: list of `C` ints (training split).
    """
    order = class_order(class_counts)
    cell = lambda m, s: "n/a" if np.isnan(m) else (f"{m:.3f}" if s == 0 else
                                                  f"{m:.3f} ± {s:.3f}")
    lines = ["| class | training images | " + " | ".join(losses) + " |",
             "|---|---|" + "---|" * len(losses)]
    for c in order:
        lines.append(f"| {class_names[c]} | {class_counts[c]} | "
                     + " | ".join(cell(m[c], sd[c]) for m, sd in losses.values()) + " |")
    lines.append("| largest − smallest | | " + " | ".join(
        f"{np.nanmax(m) - np.nanmin(m):.3f}" for m, _ in losses.values()) + " |")
    return "\n".join(lines)


def plot_class_losses(losses, class_names, class_counts, path, title=None):
    """Side-by-side bar plots of `class_losses`, one panel per row (the paper's Fig. 2: CE
    left, AdUni right), classes from the most to the fewest training images, a shared y axis;
    error bars (std over seeds) when there is more than one seed."""
    import matplotlib.pyplot as plt

    order = class_order(class_counts)
    fig, axes = plt.subplots(1, len(losses), figsize=(4.2 * len(losses), 3.8), sharey=True,
                             squeeze=False)
    for ax, (row, (means, stds)) in zip(axes[0], losses.items()):
        positions = np.arange(len(order))
        ax.bar(positions, np.asarray(means)[order],
               yerr=np.asarray(stds)[order] if np.any(stds) else None, capsize=3,
               color="tab:blue" if ax is axes[0][0] else "tab:orange")
        ax.set_xticks(positions)
        many = len(order) > 6  # one slanted line per class, else two level lines
        ax.set_xticklabels([f"{class_names[c]}{' ' if many else chr(10)}({class_counts[c]})"
                            for c in order], rotation=45 if many else 0,
                           ha="right" if many else "center", fontsize=8)
        ax.set_title(row)
        ax.set_xlabel("class (training images), most to fewest")
    axes[0][0].set_ylabel("mean cross-entropy on the test split")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def feature_sample(dataset, n, seed=0):
    """Up to `n` test images (a seeded random subset) and their labels."""
    x, y = dataset.test
    if len(y) > n:
        index = np.sort(np.random.default_rng(seed).choice(len(y), n, replace=False))
        x, y = x[index], y[index]
    return x, y


def runs_per_row(args):
    """How many runs each row trains: one per fold with `--folds K`, else one per seed."""
    return args.folds or len(args.seeds)


def first_run_name(args):
    """The run whose features are pictured: `"fold 0"` with `--folds`, else `"seed <first>"`."""
    return "fold 0" if args.folds else f"seed {args.seeds[0]}"


def snapshot_runs(rows, labels, per_row, snapshots):
    """`[(row, label, features)]` of the first run (seed or fold) of every `models.AdUni` row,
    or `None` when the snapshots do not line up with those runs (some were resumed from disk).
    `per_row` is the number of runs of each row (`runs_per_row`)."""
    trained = [(row, label) for (row, method), label in zip(rows, labels)
               if isinstance(method, UnifiedContrastiveMethod)]
    features = [s for s in snapshots if s is not None and np.ndim(s) == 2 and np.shape(s)[1]]
    if len(features) != len(trained) * per_row:
        return None
    return [(row, label, features[i * per_row]) for i, (row, label) in enumerate(trained)]


def encoder_features(model, x):
    """`model_features(model, x)`, or an empty `(N, 0)` array for models without an encoder
    (numeric, so `compare` can keep it with the run; `snapshot_runs` skips it)."""
    features = model_features(model, x)
    return np.zeros((len(x), 0), np.float32) if features is None else features


def plot_alpha(epochs, logged, path, alpha_max=1.0, alpha_min=0.01):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    ax = axes[0]
    for mode, style in (("stretched", "-"), ("cosine", "--"), ("linear", ":"), ("step", "-.")):
        schedule = AlphaSchedule(alpha_max, alpha_min, epochs, mode=mode)
        ax.plot(range(epochs), [schedule.alpha_at(e) for e in range(epochs)], style, label=mode)
    if logged is not None:
        ax.plot(range(len(logged)), logged, "ko", markersize=4, label="logged by the AduC run")
    ax.set_xlabel("epoch")
    ax.set_ylabel("α")
    ax.set_title(f"α over this run's {epochs} epochs")
    integer_ticks(ax)
    legend_outside(ax)
    ax = axes[1]
    for mode, style in (("stretched", "-"), ("cosine", "--")):
        schedule = AlphaSchedule(alpha_max, alpha_min, 400, mode=mode)
        ax.plot(range(400), [schedule.alpha_at(e) for e in range(400)], style, label=mode)
    ax.set_xlabel("epoch")
    ax.set_title("the paper's 400 epochs (stretched = the authors' code, D = 1000)")
    integer_ticks(ax)
    legend_outside(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def class_loss_section(result, table1, labels, aduc_label, dataset, output, spread):
    """The report's lines on the loss of each class (the paper's Fig. 2) for the CE and AdUni
    rows, with class_losses.png; says why when one of the two did not run."""
    ce_label = next((label for (row, m), label in zip(table1, labels) if m.name == "ce"), None)
    losses = {}
    for row, label in (("CE", ce_label), ("AdUni (AduC)", aduc_label)):
        found = None if label is None else class_losses(result, label)
        if found is not None:
            losses[row] = found
    lines = ["## Loss of each class (the paper's Fig. 2)", ""]
    if len(losses) < 2:
        missing = [row for row in ("CE", "AdUni (AduC)") if row not in losses]
        return lines + [f"Not drawn: no test predictions of {' and '.join(missing)} (the "
                        "comparison needs both the `ce` and the `aduni` rows).", ""]
    plot_class_losses(losses, dataset.class_names, dataset.class_counts,
                      os.path.join(output, "class_losses.png"))
    return lines + [
        "Mean cross-entropy (−log of the probability given to the true class) of the test "
        f"images of each class, for the CE model and the AdUni model ({spread}"
        + ("; ± std over seeds" if any(np.any(sd) for _, sd in losses.values()) else "")
        + "), from the runs' test predictions; classes from the most to the fewest "
        "training images. The paper plots the same per-class loss magnitudes on APTOS2019 to "
        "show that AdUni spreads its loss more evenly over the classes than CE; a smaller "
        "\"largest − smallest\" is the more even spread.",
        "",
        class_loss_table(losses, dataset.class_names, dataset.class_counts),
        "",
        "![loss of each class](class_losses.png)",
        "",
    ]


def run(args, dataset, output):
    """Trains Table 1 and 2's rows, draws the figures, writes the report; returns 0."""
    os.makedirs(output, exist_ok=True)
    print(dataset.summary(), flush=True)

    flip = resolve_flip(args, dataset.name)
    table1 = table_methods(args, flip)
    rows = table1 + sampler_methods(args, flip)
    spread = spread_of(args)
    print(f"\n{args.backbone}: {', '.join(row for row, _ in rows)}")
    sys.stdout.flush()
    x_feat, y_feat = feature_sample(dataset, args.feature_samples)
    snapshot = FeatureSnapshot(x_feat, features_fn=encoder_features)
    result = runs.compare(
        dataset, methods=[m for _, m in rows],
        callbacks=[] if args.no_features else [snapshot],
        output_dir=os.path.join(output, "compare"),  # resumable
        **runs.compare_kwargs(args),
    )
    folder = os.path.join(output, "compare")
    result.save(folder)
    labels = list(result.methods)
    relabel = {label: paper_label(row, label) for (row, _), label in zip(rows, labels)}
    table = result.table(METRICS, rows=list(zip([r for r, _ in table1], labels)),
                         bold_best=True)
    print(table)
    sampler_rows = table2_rows(rows, labels, args.samplers)
    table2 = result.table(METRICS, rows=sampler_rows, bold_best=True) if sampler_rows else None
    if table2:
        print(table2)

    aduc_label = next((label for (row, m), label in zip(rows, labels)
                       if m.name == "aduni" and m.params["schedule"] is not None
                       and m.params["sampling"] is None), None)
    logged = logged_alphas(result, aduc_label) if aduc_label else None
    plot_alpha(args.epochs, logged, os.path.join(output, "alpha_schedule.png"))
    loss_lines = class_loss_section(result, table1, labels, aduc_label, dataset, output, spread)

    f1 = class_f1(result, result.methods)
    plotted = list(zip([r for r, _ in table1], labels))  # Table 1's rows (a readable plot)
    plot_per_class_f1({row: f1[label][0] for row, label in plotted},
                      dataset.class_names,
                      errors={row: f1[label][1] for row, label in plotted}
                      if runs_per_row(args) > 1 else None,
                      path=os.path.join(output, "per_class_f1.png"),
                      title=f"Per-class F1 on the test split ({spread})")
    f1_table = "\n".join([
        "| row | " + " | ".join(dataset.class_names) + " |",
        "|---|" + "---|" * len(dataset.class_names),
        *[f"| {row} | " + " | ".join(f"{v:.3f}" for v in f1[label][0]) + " |"
          for (row, _), label in zip(rows, result.methods)],
    ])
    feature_lines = []
    pictured = None if args.no_features else snapshot_runs(rows, result.methods,
                                                              runs_per_row(args),
                                                              snapshot.snapshots)
    if pictured:
        for k, (row, label, features) in enumerate(pictured, start=1):
            name = f"features_{k}.png"
            plot_embedding(features, y_feat, dataset.class_names, method=args.embedding,
                           path=os.path.join(output, name), seed=0,
                           title=f"{row}, {first_run_name(args)}")
            feature_lines += [f"{row}:", "", f"![features of {row}]({name})", ""]
    elif args.no_features:
        feature_lines = ["Not drawn (`--no-features`).", ""]
    elif pictured is None:
        feature_lines = ["Not drawn: some AdUni-model runs were resumed from disk, so their "
                         "features were not recorded (rerun with `--restart` for the pictures).",
                         ""]
    else:
        feature_lines = ["No row trained `models.AdUni`, so there are no encoder features to "
                         "picture.", ""]

    sections = [
        f"# AdUni (Cong et al., MLMI 2022) on {dataset.name}",
        "",
        "```",
        dataset.summary(),
        "```",
        "",
        f"Settings: backbone {args.backbone}, {args.epochs} epochs, batch size "
        f"{args.batch_size}, {optimizer_text(args)}, the last epoch evaluated on the "
        f"test split ({len(dataset.test[1])} images), {spread}. AduC's α schedule: "
        f"`{args.schedule}` from 1.0 to 0.01 over the run's epochs; τ = 0.1, base τ = 0.07, "
        "β = 1, class logits adjusted by log n_c/N inside the loss, 2-layer projection to 128 "
        f"dimensions, two augmented views per image (flips: {flip}; ±15° rotation, crop, "
        "brightness / contrast jitter). The PaCo row is the same model, loss and pipeline "
        "with a constant α = 0.02 (PaCo's CIFAR-LT value) and "
        + (f"a memory of the last {args.paco_queue} training examples' projected features "
           "(first view, detached, from the model itself, no momentum encoder) as extra keys "
           "of the same loss" if args.paco_queue > 0 else "keys from the batch alone")
        + "; PaCo + AduC the same with AduC's α schedule; \"AdUni without AduC\" AdUni's "
        "batch-only loss with α fixed at 1.0 (AduC's starting value, the authors' `--alpha 1` "
        "without `--adp_alpha`)."
        + (" The other rows train on single images, " + training_text(args) + ". "
           if args.augment != "none" else " The other rows train on unaugmented single images. ")
        + "The α = 0 row is an ablation: AdUni's model, views and loss with α = 0 throughout (the "
        "class term alone, a logit-adjusted cross-entropy with the batch in the denominator), "
        "which separates the effect of the contrastive feature term from that of the "
        "augmentation and the logit adjustment.",
        "",
        *PROTOCOL.section(args, getattr(args, "budget", "small"), extra=[
            ("α schedule", "1 → 0.01 (the authors' compounding schedule over 400 epochs)",
             f"1 → 0.01 (`{args.schedule}`)"),
            ("model selection", "not stated", "the last epoch")]),
        f"## Table 1: methods, test split, {spread}",
        "",
        table,
        "",
        "Bold: best mean. Rows: " + ", ".join(f"{row} = `{m.name}`" for row, m in table1)
        + ". Full report (per-class recall, confusion matrices, AUC): "
        "[compare/report.md](compare/report.md).",
        "",
        *([f"## Table 2: AdUni with samplers, test split, {spread}",
           "",
           "The paper's Table 2 layout: AdUni (α 1 → 0.01, the same views and loss) trained with "
           "each image sampler; p_j ∝ n_j^q: up-sampling is class-balanced (q = 0), square-root "
           "q = ½, progressive moves linearly from instance (q = 1) to class sampling over the "
           "epochs (Kang et al., 2020); \"no sampling\" is Table 1's AdUni row (shuffled epochs)."
           + (f" The \"{FIXED_ROW}\" rows are the paper's first block: the same model, views "
              f"and loss with α held at {FIXED_ALPHA:g} from the first epoch to the last (no "
              "schedule), without a sampler and with each sampler."
              if args.fixed_alpha_block else "")
           + (" CE rows: the same samplers with cross-entropy on single images ("
              + training_text(args) + ")."
              if args.sampler_baselines else ""),
           "",
           table2,
           "",
           "Bold: best mean of this table.",
           ""] if table2 else []),
        *runs.report.calibration_lines(result, folder="compare", names={
            label: row for (row, _), label in zip(rows, labels)}),
        "## Per-class F1 (the paper's Fig. 5)",
        "",
        f"F1 of every class on the test split ({spread}; error bars: std over "
        f"{'folds' if args.folds else 'seeds'}), from the "
        "runs' confusion matrices (every row in the table; Table 1's rows in the plot).",
        "",
        f1_table,
        "",
        "![per-class F1](per_class_f1.png)",
        "",
        *loss_lines,
        f"## Learned features (the paper's Fig. 4), {'t-SNE' if args.embedding == 'tsne' else 'PCA'}",
        "",
        f"{'t-SNE' if args.embedding == 'tsne' else 'PCA'} of the encoder's pooled features "
        f"(the input of both the classifier and the projection head) of {len(y_feat)} test "
        f"images, coloured by true class, after the last epoch of {first_run_name(args)}, for "
        "every row trained with `models.AdUni`.",
        "",
        *feature_lines,
        "## α over the epochs",
        "",
        "Left: the schedules of `callbacks.AlphaSchedule` over this run's epochs (`stretched`, "
        "the default, is the authors' compounding schedule of their 400-epoch runs resampled "
        "to this run's length; `cosine` a smooth re-derivation of the paper's Eq. 3, whose "
        "printed ω(t) = 1 + cos(π t / 1000) would not decay over 400 epochs), with the α the "
        "AduC run logged each epoch as dots. Right: the same two over the paper's 400 epochs, "
        "where `stretched` is the authors' code epoch by epoch: at α_min from about epoch "
        "200, the cosine only at the end.",
        "",
        "![alpha schedule](alpha_schedule.png)",
        "",
        paper.side_by_side(
            PAPER_TABLES,
            [{**r, "method": relabel.get(r["method"], r["method"]), "backbone": args.backbone}
             for r in result.runs],
            note=f"This run: {dataset.name}, `{args.backbone}`, weights "
                 f"{getattr(args, 'weights', None) or 'randomly initialised'}, {args.epochs} "
                 f"epochs, batch size {args.batch_size}, {optimizer_text(args)}, "
                 f"`{args.schedule}` α schedule, PaCo queue of {args.paco_queue} keys (the "
                 "paper's: 1024; no momentum encoder here). "
                 + ("" if args.fixed_alpha_block else
                    "Table 2's constant α = 0.01 block runs with `--fixed-alpha-block`. ")
                 + "The authors' code README gives other figures for their released models "
                 "(ISIC2018: AdUni 0.871 accuracy, 0.790 macro-F1; APTOS2019: 0.833, 0.694)."),
        "",
    ]
    write_text(os.path.join(output, "report.md"), "\n".join(sections))  # atomic
    print(f"\nSaved to {output}")
    return 0

