"""AdUni (Cong et al., MLMI 2022): Table 1 layout, CE / focal / LDAM / logit adjustment / balanced softmax / SupCon two-stage / PaCo-style / AduC, accuracy and macro-F1, α schedule plot.

Every row is trained the same way (same model, epochs, batch size, Adam learning rate, seeds,
last epoch evaluated on the test split); rows differ in the loss and, for the contrastive rows,
in the model and pipeline:

- CE: method `ce`; focal: `focal`; LDAM: `ldam-drw`; logit-adjusted: `logit-adjusted`;
  balanced softmax: `balanced-softmax`; SupCon two-stage: `supcon-crw` (each only if registered)
- PaCo-style: `paco-batch` (the unified loss from the batch, constant α = 0.02, no schedule)
- AduC: `aduc` (the unified loss, α from 1.0 to 0.01 by the paper's cosine schedule;
  `--schedule compounding` for the authors' code's schedule)
- ablation: `aduc` with α = 0 throughout (no feature term; `--no-ablation` leaves it out)

The contrastive rows (`paco-batch`, `aduc`) train on two augmented views per image (flips,
rotation, crop, colour jitter); the other rows see the images unaugmented, as everywhere in
`kerasimb compare`. The views' flips follow the paper (horizontal and vertical) except on
digits-lt, where a flipped digit is another digit (`--flip none` there by default).

    python recipes/adauni.py --dataset digits-lt --epochs 15 --seeds 0 1
    python recipes/adauni.py --dataset medmnist:../shared/data/pneumoniamnist_lt.npz \\
        --epochs 8 --seeds 0 1

Writes, under `--output`: the `compare` folder (metrics.json, report.md, plots), and report.md
with the paper-style table, the α schedules over the run's epochs (closed forms, and α as
logged by the AduC runs) as alpha_schedule.png, and the paper's published figures for context.
"""

import argparse
import os
import sys

from kerasimb import experiment, methods
from kerasimb.callbacks import AlphaSchedule
from kerasimb.cli import add_run_arguments, dataset_from_args, default_output
from kerasimb.utils.atomic import write_text

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
    ("PaCo-style (batch, α = 0.02)", "paco-batch"),
    ("AduC (AdUni)", "aduc"),
)
# Ablation: AdUni's model, views and loss with α = 0 throughout (no feature term): isolates
# the contrastive feature learning from the augmentation and the logit-adjusted class term.
ABLATION = ("AdUni, α = 0 (no feature term)", "aduc", {"schedule": None, "alpha": 0.0})
FLIPS = ("none", "horizontal", "vertical", "horizontal_and_vertical")

# The authors' README (github.com/thomascong121/AdUni): ResNet-18, 384x384, 400 epochs.
PAPER_FIGURES = (
    ("AdUni", "ISIC2018 (7 classes)", "87.1%", "79.0%"),
    ("AdUni + up-sampling", "ISIC2018 (7 classes)", "88.2%", "79.8%"),
    ("AdUni", "APTOS2019 (5 grades)", "83.3%", "69.4%"),
    ("AdUni + up-sampling", "APTOS2019 (5 grades)", "83.9%", "71.1%"),
)


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_run_arguments(parser, epochs=15, seeds=(0, 1), batch_size=64, learning_rate=1e-3)
    parser.add_argument("--rows", nargs="+", default=None, metavar="METHOD",
                        help="method names to run (default: the table's rows that are registered)")
    parser.add_argument("--schedule", default="cosine",
                        choices=("cosine", "compounding", "linear", "step"),
                        help="AduC's α schedule (cosine: the paper; compounding: the authors' code)")
    parser.add_argument("--flip", default=None, choices=FLIPS,
                        help="flips of the contrastive views (default: none on digits-lt, "
                             "horizontal_and_vertical otherwise, as the paper)")
    parser.add_argument("--no-ablation", action="store_true",
                        help="leave out the AdUni α = 0 ablation row")
    return parser


def resolve_flip(args, dataset_name):
    """The flip of the views: `--flip`, or none for digits, both flips (the paper) otherwise."""
    flip = args.flip
    if flip is None:
        flip = "none" if dataset_name.startswith("digits") else "horizontal_and_vertical"
    return flip


def table_methods(args, flip="horizontal_and_vertical"):
    """Returns `[(row label, Method)]` in the paper's order."""
    registered = methods.names()
    wanted = args.rows
    views = {"augment": {"flip": None if flip == "none" else flip}}
    rows = []
    for label, name in ROWS:
        if name not in registered or (wanted is not None and name not in wanted):
            continue
        params = {"schedule": args.schedule} if name == "aduc" else {}
        if name in ("aduc", "paco-batch"):
            params.update(views)
        rows.append((label, methods.get(name, **params)))
    if not args.no_ablation and (wanted is None or "aduc" in wanted):
        label, name, params = ABLATION
        rows.append((label, methods.get(name, **params, **views)))
    if wanted is not None:
        unknown = [n for n in wanted if n not in [name for _, name in ROWS]]
        for name in unknown:
            rows.append((name, methods.get(name)))
    return rows


def fmt(stat, digits=3):
    if stat["mean"] is None:
        return "n/a"
    if stat["std"] is None:
        return f"{stat['mean']:.{digits}f}"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def paper_table(result, rows, metrics=METRICS):
    """The paper's layout: one row per method, accuracy and macro-F1 (+ balanced accuracy)."""
    summary = result.summary(metrics)
    labels = result.methods
    best = {m: max((summary[l][m]["mean"] for l in labels if summary[l][m]["mean"] is not None),
                   default=None) for m in metrics}
    lines = ["| method | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for (row, _), label in zip(rows, labels):
        cells = []
        for m in metrics:
            text = fmt(summary[label][m])
            if best[m] is not None and summary[label][m]["mean"] == best[m]:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def logged_alphas(result, label):
    """α per epoch as logged by the runs of `label` (first seed), or `None`."""
    for run in result.runs:
        if run["method"] == label and "alpha" in run["history"]:
            return run["history"]["alpha"]
    return None


def plot_alpha(epochs, logged, path, alpha_max=1.0, alpha_min=0.01):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    ax = axes[0]
    for mode, style in (("cosine", "-"), ("compounding", "--"), ("linear", ":"), ("step", "-.")):
        schedule = AlphaSchedule(alpha_max, alpha_min, epochs, mode=mode)
        ax.plot(range(epochs), [schedule.alpha_at(e) for e in range(epochs)], style, label=mode)
    if logged is not None:
        ax.plot(range(len(logged)), logged, "ko", markersize=4, label="logged by the AduC run")
    ax.set_xlabel("epoch")
    ax.set_ylabel("α")
    ax.set_title(f"α over this run's {epochs} epochs")
    ax.legend(fontsize=8)
    ax = axes[1]
    for mode, style in (("cosine", "-"), ("compounding", "--")):
        schedule = AlphaSchedule(alpha_max, alpha_min, 400, mode=mode)
        ax.plot(range(400), [schedule.alpha_at(e) for e in range(400)], style, label=mode)
    ax.set_xlabel("epoch")
    ax.set_title("the paper's 400 epochs (compounding: D = 1000)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.rows is not None:
        for name in args.rows:
            try:
                methods.get(name)
            except ValueError:
                parser.error(f"argument --rows: unknown method {name!r}; choose from {methods.names()}")
    dataset = dataset_from_args(args, parser.error)
    output = args.output or default_output("adauni", dataset.name)
    os.makedirs(output, exist_ok=True)
    print(dataset.summary())
    sys.stdout.flush()

    flip = resolve_flip(args, dataset.name)
    rows = table_methods(args, flip)
    spread = (f"mean ± std over seeds {args.seeds}" if len(args.seeds) > 1
              else f"seed {args.seeds[0]}")
    print(f"\n{args.backbone}: {', '.join(row for row, _ in rows)}")
    sys.stdout.flush()
    result = experiment.compare(
        dataset, methods=[m for _, m in rows], backbone=args.backbone, epochs=args.epochs,
        seeds=args.seeds, batch_size=args.batch_size, learning_rate=args.learning_rate,
        verbose=args.verbose, progress=not args.no_progress,
        output_dir=os.path.join(output, "compare"), overwrite=args.restart,  # resumable
    )
    folder = os.path.join(output, "compare")
    result.save(folder)
    table = paper_table(result, rows)
    print(table)

    aduc_label = next((label for (row, m), label in zip(rows, result.methods)
                       if m.name == "aduc" and m.params["schedule"] is not None), None)
    logged = logged_alphas(result, aduc_label) if aduc_label else None
    plot_alpha(args.epochs, logged, os.path.join(output, "alpha_schedule.png"))

    sections = [
        f"# AdUni (Cong et al., MLMI 2022) on {dataset.name}",
        "",
        "```",
        dataset.summary(),
        "```",
        "",
        f"Settings: backbone {args.backbone}, {args.epochs} epochs, batch size "
        f"{args.batch_size}, Adam lr {args.learning_rate:g}, the last epoch evaluated on the "
        f"test split ({len(dataset.test[1])} images), {spread}. AduC's α schedule: "
        f"`{args.schedule}` from 1.0 to 0.01 over the run's epochs; τ = 0.1, base τ = 0.07, "
        "β = 1, class logits adjusted by log n_c/N inside the loss, 2-layer projection to 128 "
        f"dimensions, two augmented views per image (flips: {flip}; ±15° rotation, crop, "
        "brightness / contrast jitter). The PaCo-style row is the same model, loss and pipeline with a "
        "constant α = 0.02 (PaCo's CIFAR-LT value) and no queue. The other rows train on "
        "unaugmented single images. The last row is an ablation: AdUni's model, views and loss "
        "with α = 0 throughout (the class term alone, a logit-adjusted cross-entropy with the "
        "batch in the denominator), which separates the effect of the contrastive feature term "
        "from that of the augmentation and the logit adjustment.",
        "",
        f"## Test split, {spread}",
        "",
        table,
        "",
        "Bold: best mean. Rows: " + ", ".join(f"{row} = `{m.name}`" for row, m in rows)
        + ". Full report (per-class recall, confusion matrices, AUC): "
        "[compare/report.md](compare/report.md).",
        "",
        "## α over the epochs",
        "",
        "Left: the schedules of `callbacks.AlphaSchedule` over this run's epochs (the paper's "
        "smooth cosine is the default; `compounding` is the authors' code, a cosine step "
        "applied to the previous epoch's α with D = 2.5 × epochs), with the α the AduC run "
        "logged each epoch as dots. Right: the same two over the paper's 400 epochs — the "
        "code's schedule is at α_min by epoch ~200, the paper's cosine only at the end.",
        "",
        "![alpha schedule](alpha_schedule.png)",
        "",
        "## The paper's figures",
        "",
        "The paper evaluates on ISIC2018 (skin lesions, 7 classes) and APTOS2019 (diabetic "
        "retinopathy, 5 grades) with a ResNet-18 at 384×384 for 400 epochs. Its numeric tables "
        "could not be retrieved with this project's tools; the authors' code README gives "
        "these test figures for their released models:",
        "",
        "| method | dataset | accuracy | F1 |",
        "|---|---|---|---|",
        *[f"| {m} | {d} | {a} | {f} |" for m, d, a, f in PAPER_FIGURES],
        "",
        "The tasks here are different (small grey-scale images, other classes, a small CNN "
        "for a few epochs), so these numbers are context, not a cell-by-cell comparison; no "
        "CE / PaCo figure of the paper is quoted because none could be read.",
        "",
    ]
    write_text(os.path.join(output, "report.md"), "\n".join(sections))  # atomic
    print(f"\nSaved to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
