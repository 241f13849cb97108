"""Perturbed input at inference (Chen et al., MICCAI 2021): Table 2 layout (MCR / SCR without and with the perturbation per baseline and backbone) and the Fig. 3 robustness plots.

Each training baseline (CE, RS = class-sampling, RW = reweight, FL = focal, DRS, LDAM-DRW: those
registered in `kerasimb.methods`) is trained ONCE per backbone and fold, and that one model is
scored on the test split twice: with the baseline's own prediction, and on inputs perturbed by
x̃ = x − ε·sign(∇ₓ CE(softmax(z/T), p*)) (`kerasimb.inference`; method `<baseline>+perturb`), ε
chosen on the fold's validation split from `--epsilon-grid` (or fixed by `--epsilon`), T = 1000.
Figures: mean class recall (MCR, = balanced accuracy) and smallest-class recall (SCR), mean ± std
over the `--folds` folds of a stratified k-fold cross-validation over train+val (the paper uses
k-fold cross-validation; the test split stays the same), or over `--seeds` without `--folds`.
Fig. 3: MCR and SCR on the test split against ε (T fixed) and against T (ε = `--sweep-epsilon`).

    kerasimb run perturbed_inference --dataset digits-lt --backbones small_cnn --folds 3
    kerasimb run perturbed_inference --dataset medmnist:pneumoniamnist_lt.npz \\
        --backbones small_cnn --folds 3 --epochs 5

Writes metrics.json, report.md, fig2_per_class_recall_<backbone>.png (recall of every class,
largest training class first, without and with the perturbation) and
fig3_epsilon_<backbone>.png / fig3_temperature_<backbone>.png under `--output`. Interrupted (Ctrl-C, SIGTERM, a killed process), the same command with the
same `--output` resumes: every finished (backbone, baseline, fold) is loaded from
`<output>/runs/` instead of retrained and scored again, the interrupted one continues from its
last completed epoch (`<output>/backup/`); `--restart` discards them.
"""

if __name__ == "__main__":  # `python -m kerasimb.recipes.perturbed_inference` is `python -m kerasimb run perturbed_inference`,
    import runpy  # handed over before the imports below (the command starts TensorFlow quietly)
    import sys

    sys.argv = ["kerasimb", "run", "perturbed_inference", *sys.argv[1:]]
    runpy.run_module("kerasimb", run_name="__main__")


import datetime
import json
import logging
import os
import sys
import time

import keras
import numpy as np

from kerasimb import data, metrics, methods, models, runs
from kerasimb.callbacks.freeze import freeze_callbacks
from kerasimb.inference import DEFAULT_GRID, plot_sweep, sweep
from kerasimb.recipes import paper
from kerasimb.recipes.protocol import Protocol
from kerasimb.recipes.flags import optimizer_text, training_text
from kerasimb.utils import runtime
from kerasimb.utils.atomic import atomic_path, write_text
from kerasimb.utils.formatting import format_stat, jsonable, spread_text
from kerasimb.utils.images import to_float_images
from kerasimb.utils.plotting import legend_outside, plot_per_class_recall, save_figure

DEFAULTS = {"epochs": 30, "seeds": (0,), "batch_size": 32, "learning_rate": 1e-3,
            "backbone": None}
BUDGETS = {
    "small": ["--epochs", "15", "--seeds", "0", "1", "--backbones", "small_cnn",
              "--baselines", "ce"],
    "medium": ["--epochs", "30", "--seeds", "0", "1", "2", "--backbones", "small_cnn",
               "mobilenetv2", "--image-size", "32"],
    "paper": ["--budget", "paper", "--folds", "5", "--seeds", "0"],
}
PROTOCOL = Protocol(
    "§3.1 of Chen et al., MICCAI 2021, its OCTMNIST setting (the 28×28 MedMNIST images are "
    "closest to it)",
    {"optimizer": "sgd", "learning_rate": 0.01, "momentum": 0.9, "weight_decay": 5e-4,
     "lr_schedule": "step", "lr_warmup_epochs": 1, "batch_size": 128, "augment": "hflip",
     "epochs": 200, "image_size": 32, "backbone": "mobilenetv2", "weights": "imagenet",
     "folds": 5},
    notes={"model": "ResNet50, MobileNet V2 and DenseNet169 (learning rate 0.01 for MobileNet "
                    "V2, 0.001 for the others)",
           "evaluation": "Skin7 and X-ray6: 5-fold cross-validation; OCTMNIST: its test split"},
    budgets={"small": {"epochs": 30},
             "paper": {"epochs": 200, "image_size": 32, "backbone": "mobilenetv2"}})
CLAIMS = [{
    "paper": "Chen et al., perturbed input at inference, MICCAI 2021",
    "claim": "Perturbing the input at inference raises mean class recall (MCR) and smallest "
             "class recall (SCR) of the same CE-trained model",
    "method": {"where": {"method": "ce"}, "field": "with"},
    "baseline": {"where": {"method": "ce"}, "field": "without"},
    "metrics": ["mcr", "scr"],
    "paper_figures": None,
}]

# (row label of the paper's Table 2, registered method name)
BASELINES = (("CE", "ce"), ("RS", "class-sampling"), ("RW", "reweight"), ("FL", "focal"),
             ("DRS", "drs"), ("LDAM-DRW", "ldam-drw"))
PAPER_BACKBONES = ("resnet50", "mobilenetv2", "densenet169")

# The paper's Table 2, transcribed as printed (percentages; kerasimb.recipes.paper renders it).
# Its "LDAM" rows are LDAM-DRW (the paper's baselines section); "X+ours" is X with the
# perturbation at inference: the same trained model, our "with" field.
PAPER_SOURCE = "Table 2 of Chen et al., MICCAI 2021"
PAPER_METHODS = {"CE": "ce", "RS": "class-sampling", "RW": "reweight", "FL": "focal",
                 "DRS": "drs", "LDAM": "ldam-drw"}
SKIN7 = ("Skin7 (7 classes of dermoscopy images, imbalance ratio 58.3; resized to 300×300, "
         "random 224×224 crops and flips), five-fold cross-validation, ImageNet-pretrained "
         "{backbone}, SGD with momentum 0.9 and weight decay 0.0005, batch 32, ε = 0.001")
OCTMNIST = ("OCTMNIST (4 classes of OCT images, imbalance ratio 5.9, resized to 32×32 with "
            "random flips; every image trained on, the official 250 test images per class), "
            "ImageNet-pretrained {backbone}, SGD with momentum 0.9, one figure per cell (no "
            "spread printed)")


def paper_table(setting, backbone, rows):
    """One block of the paper's Table 2 as a `PAPER_TABLES` entry: `rows` is `{paper row:
    (MCR, SCR) as printed}`."""
    return {
        "source": f"{PAPER_SOURCE}, {setting.split(' (')[0]} columns, {backbone} block",
        "setting": setting.format(backbone=backbone), "scale": 100,
        "metrics": {"mcr": "MCR", "scr": "SCR"},
        "rows": {label: {"mcr": mcr, "scr": scr} for label, (mcr, scr) in rows.items()},
        "ours": {label: {"where": {"method": PAPER_METHODS[label.split("+")[0]]},
                         "field": "with" if label.endswith("+ours") else "without"}
                 for label in rows},
        "prefer": {"backbone": backbone.lower()},
        "baseline": {label: label[:-len("+ours")] for label in rows if label.endswith("+ours")},
    }


PAPER_TABLES = [
    paper_table(SKIN7, 'ResNet50', {
        'CE': ('84.54', '75.66'),
        'CE+ours': ('86.42', '84.36'),
        'RS': ('83.23', '73.04'),
        'RS+ours': ('86.34', '81.76'),
        'RW': ('85.03', '74.78'),
        'RW+ours': ('87.82', '87.83'),
        'FL': ('83.10', '73.92'),
        'FL+ours': ('85.90', '86.12'),
        'DRS': ('84.12', '75.66'),
        'DRS+ours': ('86.37', '84.36'),
        'LDAM': ('83.48', '73.94'),
        'LDAM+ours': ('84.81', '79.12'),
    }),
    paper_table(SKIN7, 'MobileNetV2', {
        'CE': ('84.46', '77.40'),
        'CE+ours': ('85.56', '88.70'),
        'RS': ('82.42', '66.98'),
        'RS+ours': ('86.07', '84.36'),
        'RW': ('85.75', '80.00'),
        'RW+ours': ('85.96', '90.43'),
        'FL': ('84.23', '76.54'),
        'FL+ours': ('84.81', '89.58'),
        'DRS': ('84.80', '78.26'),
        'DRS+ours': ('85.73', '88.70'),
        'LDAM': ('83.63', '76.54'),
        'LDAM+ours': ('84.42', '82.64'),
    }),
    paper_table(SKIN7, 'DenseNet169', {
        'CE': ('84.92', '76.56'),
        'CE+ours': ('86.20', '86.98'),
        'RS': ('82.43', '69.56'),
        'RS+ours': ('85.33', '79.14'),
        'RW': ('84.50', '76.52'),
        'RW+ours': ('86.48', '84.35'),
        'FL': ('84.00', '80.00'),
        'FL+ours': ('85.64', '87.84'),
        'DRS': ('83.53', '71.32'),
        'DRS+ours': ('85.81', '82.64'),
        'LDAM': ('83.71', '72.18'),
        'LDAM+ours': ('85.77', '82.62'),
    }),
    paper_table(OCTMNIST, 'ResNet50', {
        'CE': ('75.60', '26.40'),
        'CE+ours': ('77.20', '43.60'),
        'RS': ('78.70', '37.60'),
        'RS+ours': ('78.90', '52.40'),
        'RW': ('76.00', '28.40'),
        'RW+ours': ('78.10', '43.20'),
        'FL': ('74.80', '23.20'),
        'FL+ours': ('77.60', '38.80'),
        'DRS': ('79.20', '39.20'),
        'DRS+ours': ('80.60', '61.20'),
        'LDAM': ('79.60', '40.00'),
        'LDAM+ours': ('81.60', '54.40'),
    }),
    paper_table(OCTMNIST, 'MobileNetV2', {
        'CE': ('76.40', '25.20'),
        'CE+ours': ('77.60', '45.20'),
        'RS': ('76.20', '27.60'),
        'RS+ours': ('78.40', '45.60'),
        'RW': ('77.70', '32.40'),
        'RW+ours': ('78.20', '52.40'),
        'FL': ('77.10', '35.20'),
        'FL+ours': ('79.20', '51.60'),
        'DRS': ('77.80', '32.80'),
        'DRS+ours': ('78.40', '56.00'),
        'LDAM': ('80.90', '48.00'),
        'LDAM+ours': ('82.70', '64.00'),
    }),
    paper_table(OCTMNIST, 'DenseNet169', {
        'CE': ('73.90', '21.60'),
        'CE+ours': ('76.10', '36.00'),
        'RS': ('75.20', '23.60'),
        'RS+ours': ('78.00', '38.40'),
        'RW': ('75.50', '20.40'),
        'RW+ours': ('77.40', '38.00'),
        'FL': ('75.10', '20.00'),
        'FL+ours': ('78.80', '34.80'),
        'DRS': ('73.70', '23.20'),
        'DRS+ours': ('75.00', '40.40'),
        'LDAM': ('81.60', '46.40'),
        'LDAM+ours': ('83.40', '63.20'),
    }),
]

SWEEP_EPSILONS = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
SWEEP_TEMPERATURES = (1.0, 10.0, 100.0, 1000.0, 10000.0)


def add_arguments(parser):
    """Adds the recipe's own flags."""
    parser.add_argument("--backbones", nargs="+", default=None, metavar="NAME",
                        help="models, one table block each (small_cnn allowed; default: "
                             "--backbone if given, else the paper's resnet50 mobilenetv2 "
                             "densenet169); backbones need --image-size 32 or more")
    parser.add_argument("--baselines", nargs="+", default=None, metavar="NAME",
                        help="training methods (default: those of ce, class-sampling, reweight, "
                             "focal, drs, ldam-drw that are registered)")
    parser.add_argument("--folds", type=int, default=0,
                        help="k-fold cross-validation over train+val (k >= 2); 0 uses the "
                             "dataset's own splits once per seed")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="fixed step size (default: chosen on validation from the grid)")
    parser.add_argument("--epsilon-grid", type=float, nargs="+", default=list(DEFAULT_GRID))
    parser.add_argument("--temperature", type=float, default=1000.0)
    parser.add_argument("--sweep-epsilon", type=float, default=1e-3,
                        help="ε of the Fig. 3 temperature sweep (the paper's 1e-3)")
    return parser


def check_arguments(args):
    """Checks the recipe's flags before any data is loaded (and fills in `--backbones`).

    Raises:
        ValueError: a fold count of 1 or below 0, ε < 0, T <= 0, unknown backbones or
            baselines.
    """
    if args.backbones is None:
        args.backbones = [args.backbone] if args.backbone else list(PAPER_BACKBONES)
    if args.folds == 1 or args.folds < 0:
        raise ValueError(f"argument --folds: expected 0 or an integer >= 2, received {args.folds}")
    if args.epsilon is not None and args.epsilon < 0:
        raise ValueError(f"argument --epsilon: expected a number >= 0, received {args.epsilon}")
    if not args.temperature > 0:
        raise ValueError(f"argument --temperature: expected a number > 0, received "
                         f"{args.temperature}")
    if args.stop_on_divergence:
        raise ValueError("argument --stop-on-divergence: does not apply to this recipe (it "
                         "stops at any error, a diverging run included)")
    unknown = [b for b in args.backbones if b not in models.MODELS]
    if unknown:
        raise ValueError(f"argument --backbones: unknown {unknown}; choose from "
                         f"{models.MODELS.names()}")
    if args.baselines:
        missing = [b for b in args.baselines if b not in methods.names()]
        if missing:
            raise ValueError(f"argument --baselines: unknown {missing}; registered: "
                             f"{methods.names()}")
    for backbone in args.backbones:
        try:
            models.check_weights(backbone, args.weights)
        except ValueError as e:
            raise ValueError(f"argument --weights: {e}") from None
    args.backbone = args.backbones[0]


def backbones(args):
    """The models whose minimum image size the data must meet."""
    return list(args.backbones)


def baselines(args):
    """Returns `[(label, method name)]`: the requested or the registered paper baselines."""
    if args.baselines:
        return [(name, name) for name in args.baselines]
    registered = set(methods.names())
    return [(label, name) for label, name in BASELINES if name in registered]


def splits(dataset, args):
    """Returns `[(split label, dataset, seed)]`: k folds, or the given splits once per seed."""
    if args.folds:
        return [(f"fold{i}", fold, args.seeds[0] + i)
                for i, fold in enumerate(data.kfold_datasets(dataset, args.folds,
                                                             seed=args.seeds[0]))]
    return [(f"seed{s}", dataset, s) for s in args.seeds]


def scores(y, probabilities, class_counts):
    report = metrics.report(y, probabilities, class_counts=class_counts)
    return {"mcr": report["balanced_accuracy"], "scr": report["smallest_class_recall"],
            "per_class_recall": report["per_class_recall"], "ece": report["ece"],
            "nll": report["nll"]}



def run_fingerprint(args, backbone, name, split_label, split):
    """Every setting a (backbone, baseline, split) unit's record depends on."""
    precision = runtime.resolve_precision(getattr(args, "mixed_precision", None))
    return jsonable({
        "backbone": backbone, "method": name, "params": methods.get(name).params,
        "split": split_label, "folds": args.folds, "epochs": args.epochs,
        "batch_size": args.batch_size, "learning_rate": args.learning_rate,
        "temperature": args.temperature, "epsilon": args.epsilon,
        "epsilon_grid": args.epsilon_grid, "sweep_epsilon": args.sweep_epsilon,
        "sweep_epsilons": SWEEP_EPSILONS, "sweep_temperatures": SWEEP_TEMPERATURES,
        "dataset": runs.dataset_fingerprint(split),
        # float32 records keep their old fingerprint; other policies are separate runs.
        **({} if precision == "float32" else {"mixed_precision": precision}),
        **({} if args.weights is None else {"weights": args.weights}),
        **({} if args.augment == "none" else {"augment": args.augment}),
        **({} if args.freeze_backbone is None else {"freeze_backbone": args.freeze_backbone}),
        # Adam at a constant rate (the default) keeps the records' old fingerprint.
        **({} if runs.compare_kwargs(args)["optimizer"] is None
           else {"training": runs.compare_kwargs(args)["optimizer"]}),
    })


def train_and_score(args, dataset, output):
    """Trains and scores every (backbone, baseline, split) unit; returns `(records, sweeps,
    seconds)`.

    Resumable: each finished unit's record is written to `<output>/runs/` (atomically) and
    loaded instead of retrained by a rerun; the unit being trained keeps a
    `callbacks.ResumableBackup` in `<output>/backup/` after every epoch (and once trained, while
    it is scored), so a rerun continues it from its last completed epoch
    (`runs.train_resumable`). `--restart` discards both.
    """
    store = runs.RunStore(output, overwrite=args.restart)
    run_settings = runs.compare_kwargs(args)  # --mixed-precision, --distribute, --jit-compile
    strategy = runtime.make_strategy(run_settings["distribute"])
    x_test, y_test = dataset.test
    x_test_float = to_float_images(x_test)
    records = []
    start = time.perf_counter()
    for backbone in args.backbones:
        make_model = models.model_fn(
            backbone, **({} if args.weights is None else {"weights": args.weights}))
        for label, name in baselines(args):
            for split_label, split, seed in splits(dataset, args):
                unit = f"{backbone}/{name}"
                fingerprint = run_fingerprint(args, backbone, name, split_label, split)
                finished = store.load(unit, seed, fingerprint)
                if finished is not None:
                    records.append(finished[0])
                    print(f"{backbone} {label} {split_label}: loaded from {store.output_dir}",
                          flush=True)
                    continue
                t0 = time.perf_counter()
                keras.backend.clear_session()
                method = methods.get(name)
                # Built and trained under the policy / strategy; scored (plain and perturbed)
                # with the model's own policy.
                with runtime.run_context(run_settings["mixed_precision"], strategy):
                    model, _ = runs.train_resumable(store, unit, seed, fingerprint, method, split,
                                               make_model, epochs=args.epochs,
                                               batch_size=args.batch_size,
                                               learning_rate=args.learning_rate,
                                               verbose=args.verbose,
                                               jit_compile=run_settings["jit_compile"],
                                               optimizer=run_settings["optimizer"],
                                               callbacks=[
                                                   *freeze_callbacks(args.freeze_backbone),
                                                   *runs.tensorboard_callbacks(
                                                       args.tensorboard, unit, seed)],
                                               **({} if run_settings["augment"] is None else
                                                  {"augment": run_settings["augment"]}))
                plain_probabilities = method.predict(model, x_test)
                plain = scores(y_test, plain_probabilities, split.class_counts)
                perturbed_method = methods.get(
                    f"{name}+perturb", temperature=args.temperature,
                    epsilon="auto" if args.epsilon is None else args.epsilon,
                    epsilon_grid=args.epsilon_grid)
                record = perturbed_method.prepare(model, split)  # the same model, not retrained
                perturbed_probabilities = perturbed_method.predict(model, x_test)
                perturbed = scores(y_test, perturbed_probabilities, split.class_counts)
                counts = split.class_counts
                eps_rows = sweep(model, x_test_float, y_test, counts, epsilons=SWEEP_EPSILONS,
                                 temperatures=(args.temperature,))
                t_rows = sweep(model, x_test_float, y_test, counts,
                               epsilons=(args.sweep_epsilon,), temperatures=SWEEP_TEMPERATURES)
                records.append(jsonable({
                    "backbone": backbone, "baseline": label, "method": name,
                    "split": split_label, "seed": seed, "class_counts": counts,
                    "without": plain, "with": perturbed, "epsilon": record["epsilon"],
                    "validation_scores": {str(k): v for k, v in record["scores"].items()},
                    "sweep_epsilon": eps_rows, "sweep_temperature": t_rows,
                    "seconds": round(time.perf_counter() - t0, 2)}))
                store.save(unit, seed, fingerprint, records[-1], plain_probabilities,
                           arrays={"perturbed_probabilities": perturbed_probabilities})
                print(f"{backbone} {label} {split_label}: MCR {plain['mcr']:.3f} -> "
                      f"{perturbed['mcr']:.3f}, SCR {plain['scr']:.3f} -> {perturbed['scr']:.3f} "
                      f"(eps {record['epsilon']:g}, {records[-1]['seconds']:.0f} s)", flush=True)
                del model
    sweeps = {}
    for r in records:
        entry = sweeps.setdefault(r["backbone"], {}).setdefault(
            r["baseline"], {"epsilon": [], "temperature": [], "plain": []})
        entry["epsilon"].append(r["sweep_epsilon"])
        entry["temperature"].append(r["sweep_temperature"])
        entry["plain"].append(r["without"])
    return records, sweeps, time.perf_counter() - start


def table(records, args):
    header = ("| backbone | method | MCR w/o | MCR w/ perturbation | SCR w/o | SCR w/ perturbation "
              "| ε chosen |")
    lines = [header, "|---|---|---|---|---|---|---|"]
    for backbone in args.backbones:
        for label, _ in baselines(args):
            rows = [r for r in records if r["backbone"] == backbone and r["baseline"] == label]
            if not rows:
                continue
            eps = ", ".join(f"{r['epsilon']:g}" for r in rows)
            lines.append(
                f"| {backbone} | {label} | {format_stat([r['without']['mcr'] for r in rows])} | "
                f"{format_stat([r['with']['mcr'] for r in rows])} | "
                f"{format_stat([r['without']['scr'] for r in rows])} | "
                f"{format_stat([r['with']['scr'] for r in rows])} | {eps} |")
    return "\n".join(lines)


def calibration_table(records, args):
    """What the perturbation does to calibration, beside what it does to recall: test ECE and
    NLL without / with it (records written before these figures existed show n/a)."""
    lines = ["| backbone | method | ECE w/o | ECE w/ perturbation | NLL w/o | NLL w/ perturbation |",
             "|---|---|---|---|---|---|"]
    for backbone in args.backbones:
        for label, _ in baselines(args):
            rows = [r for r in records if r["backbone"] == backbone and r["baseline"] == label]
            if rows:
                lines.append(f"| {backbone} | {label} | " + " | ".join(
                    format_stat([r[side].get(key) for r in rows])
                    for key in ("ece", "nll") for side in ("without", "with")) + " |")
    return "\n".join(lines)


def _mean(values):
    """Mean of the defined values (records keep an undefined figure as `None`), else NaN."""
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def plots(sweeps, args, output):
    files = []
    for backbone, by_label in sweeps.items():
        references = {label: {"balanced_accuracy": _mean([p["mcr"] for p in e["plain"]]),
                              "smallest_class_recall": _mean([p["scr"] for p in e["plain"]])}
                      for label, e in by_label.items()}
        name = f"fig3_epsilon_{backbone}.png"
        with atomic_path(os.path.join(output, name)) as tmp:
            plot_sweep({label: e["epsilon"] for label, e in by_label.items()}, x="epsilon",
                       references=references, path=tmp,
                       title=f"{backbone}: test MCR / SCR against ε (T = {args.temperature:g}); "
                             "dashed: no perturbation")
        files.append(name)
        name = f"fig3_temperature_{backbone}.png"
        with atomic_path(os.path.join(output, name)) as tmp:
            plot_sweep({label: e["temperature"] for label, e in by_label.items()},
                       x="temperature", references=references, path=tmp,
                       title=f"{backbone}: test MCR / SCR against T (ε = {args.sweep_epsilon:g}); "
                             "dashed: no perturbation")
        files.append(name)
    return files


def class_order(class_counts):
    """Class indices from the largest training class to the smallest (ties: the lower index
    first), the x-axis of the paper's Fig. 2 (1 = the largest class).

    Example:

    >>> class_order([5, 40, 5, 12])
    [1, 3, 0, 2]
    """
    counts = np.asarray(class_counts, dtype=np.float64)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError("Invalid value received for argument `class_counts`. Expected a "
                         f"non-empty list of counts. Received: class_counts={class_counts!r}")
    return [int(i) for i in np.argsort(-counts, kind="stable")]


def recall_by_rank(records, backbone, args):
    """Per-class test recall of every baseline on `backbone`, without and with the
    perturbation, the classes ordered from the largest training class to the smallest.

    Args:
        records: the recipe's run records (`train_and_score`).
        backbone: str.
        args: the parsed flags (for the baselines and their order).

    Returns:
        dict with `"order"` (class indices, largest training class first; the training counts
        summed over the records' splits decide), `"counts"` (the mean training count of each
        class over the splits, in that order) and `"recall"`: `{baseline label: {"without" |
        "with": float array (splits, classes)}}`, columns in `order`, NaN where a class is
        missing from the test split. Empty dicts when no record is of `backbone`.
    """
    rows = [r for r in records if r["backbone"] == backbone]
    if not rows:
        return {"order": [], "counts": [], "recall": {}}
    counts = np.asarray([r["class_counts"] for r in rows], dtype=np.float64)
    order = class_order(counts.sum(axis=0))
    recall = {}
    for label, _ in baselines(args):
        mine = [r for r in rows if r["baseline"] == label]
        if mine:
            recall[label] = {side: np.asarray(
                [[np.nan if r[side]["per_class_recall"].get(str(c)) is None
                  else r[side]["per_class_recall"][str(c)] for c in order] for r in mine],
                dtype=np.float64) for side in ("without", "with")}
    return {"order": order, "counts": counts.mean(axis=0)[order].tolist(), "recall": recall}


def recall_table(by_rank, class_names):
    """`recall_by_rank`'s figures in markdown: one row per class (rank 1 = largest training
    class), a column without and one with the perturbation per baseline, mean ± std over the
    splits."""
    labels = list(by_rank["recall"])
    lines = ["| rank | class | training examples | " + " | ".join(
        f"{label} w/o | {label} w/ perturbation" for label in labels) + " |",
        "|---|---|---|" + "---|" * (2 * len(labels))]
    for rank, (c, count) in enumerate(zip(by_rank["order"], by_rank["counts"]), start=1):
        cells = [format_stat([None if np.isnan(v) else float(v)
                              for v in by_rank["recall"][label][side][:, rank - 1]])
                 for label in labels for side in ("without", "with")]
        count = f"{count:.0f}" if float(count).is_integer() else f"{count:.1f}"
        lines.append(f"| {rank} | {class_names[c]} | {count} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_recall_by_rank(by_rank, path, title):
    """Fig. 2 as grouped bars: per class (x: rank, 1 = largest training class) the recall of
    every baseline without (light) and with (dark) the perturbation, mean over the splits with
    their standard deviation as error bars; returns the figure."""
    from matplotlib import colormaps
    from matplotlib.container import BarContainer

    values, errors = {}, {}
    for label, sides in by_rank["recall"].items():
        for side, name in (("without", label), ("with", f"{label} + perturbation")):
            table = sides[side]
            values[name] = [float(np.nanmean(col)) if np.isfinite(col).any() else np.nan
                            for col in table.T]
            errors[name] = [float(np.nanstd(col, ddof=1)) if np.isfinite(col).sum() > 1 else 0.0
                            for col in table.T]
    several = any(sides["without"].shape[0] > 1 for sides in by_rank["recall"].values())
    figure = plot_per_class_recall(values, [str(r) for r in range(1, len(by_rank["order"]) + 1)],
                                   errors=errors if several else None, title=title)
    ax = figure.axes[0]
    palette = colormaps["tab20"]
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    for index, container in enumerate(bars):  # pairs: light without, dark with
        colour = palette((2 * (index // 2) + (1 - index % 2)) % 20)
        for patch in container:
            patch.set_color(colour)
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    legend_outside(ax, title="method")
    ax.set_xlabel("class, by training examples (1 = the largest)")
    return save_figure(figure, path)


def recall_figures(records, args, output, class_names):
    """Fig. 2 for every backbone: the PNG and the markdown table; returns `[(backbone, file
    name, table)]`."""
    out = []
    for backbone in args.backbones:
        by_rank = recall_by_rank(records, backbone, args)
        if not by_rank["recall"]:
            continue
        name = f"fig2_per_class_recall_{backbone}.png"
        with atomic_path(os.path.join(output, name)) as tmp:
            plot_recall_by_rank(by_rank, tmp, f"{backbone}: test recall per class without / "
                                              "with the perturbation")
        out.append((backbone, name, recall_table(by_rank, class_names)))
    return out


class _QuietRetracing(logging.Filter):
    """Each trained model gets new compiled functions by design; TensorFlow's retracing warning
    about that is noise here."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def run(args, dataset, output):
    """Trains every (backbone, baseline, fold) unit once, scores it without and with the
    perturbation, draws Fig. 3, writes the report; returns 0."""
    if not baselines(args):
        raise ValueError("argument --baselines: no training baseline is registered")
    logging.getLogger("tensorflow").addFilter(_QuietRetracing())
    os.makedirs(output, exist_ok=True)
    print(dataset.summary(), flush=True)
    records, sweeps, seconds = train_and_score(args, dataset, output)
    figures = plots(sweeps, args, output)
    recall_figs = recall_figures(records, args, output, dataset.class_names)
    settings = {k: v for k, v in vars(args).items()}
    settings["baselines"] = baselines(args)
    write_text(os.path.join(output, "metrics.json"),  # atomic
               json.dumps({"dataset": dataset.name, "class_counts": dataset.class_counts,
                           "settings": settings, "runs": records,
                           "seconds": round(seconds, 1)},
                          indent=1, default=float))
    spread = (f"mean ± std over {args.folds} folds (stratified k-fold over train+val, fixed test "
              "split)" if args.folds else spread_text(args.seeds))
    eps_text = (f"fixed ε = {args.epsilon:g}" if args.epsilon is not None else
                f"ε chosen per fold on its validation split (max MCR) from {args.epsilon_grid}")
    text = "\n".join([
        f"# Perturbed input at inference on {dataset.name}",
        "",
        f"Written {datetime.datetime.now().isoformat(timespec='seconds')}; total "
        f"{seconds:.0f} s.",
        "",
        "```", dataset.summary(), "```",
        "",
        *PROTOCOL.section(args, getattr(args, "budget", "small"), extra=[
            ("perturbation", "T = 1000, ε = 0.001 chosen on a small validation set",
             f"T = {args.temperature:g}, {eps_text}")]),
        "## Table 2 layout: without / with the perturbation (the same trained model)",
        "",
        f"Test split, {spread}. MCR = mean class recall (balanced accuracy), SCR = recall of the "
        f"class with the fewest training examples. T = {args.temperature:g}, {eps_text}. "
        f"Training: {args.epochs} epochs, batch size {args.batch_size}, "
        f"{optimizer_text(args)}, {training_text(args)}, last epoch.",
        "",
        table(records, args),
        "",
        paper.side_by_side(PAPER_TABLES, records,
                           note=f"This run: {dataset.name}, backbones "
                                f"{', '.join(args.backbones)}, weights "
                                f"{args.weights or 'randomly initialised'}, {args.epochs} "
                                f"epochs, {training_text(args)}. The X-ray6 columns of Table 2 are "
                                "not transcribed (no X-ray6 loader here)."),
        "## Calibration without / with the perturbation",
        "",
        "Test expected calibration error (15 equal-mass bins of the top probability) and "
        f"negative log-likelihood, {spread}; smaller is better. The step toward the "
        "inverse-frequency target moves probability to the rare classes: this table shows "
        "what that costs (or gains) in calibration, beside the recall above.",
        "",
        calibration_table(records, args),
        "",
        "## Fig. 2: recall of every class without / with the perturbation",
        "",
        f"Test split, {spread}. Classes ranked by their training examples, 1 = the largest "
        "(the paper's x-axis); each baseline's model scored without (light) and with (dark) "
        "the perturbation.",
        "",
        *[line for backbone, name, table_text in recall_figs
          for line in (f"### {backbone}", "", f"![{name}]({name})", "", table_text, "")],
        "## Fig. 3: robustness to ε and T (test split)",
        "",
        *[f"![{name}]({name})" for name in figures],
        "",
    ])
    write_text(os.path.join(output, "report.md"), text)  # atomic
    print()
    print(table(records, args))
    print(f"\nSaved report.md, metrics.json and {len(figures)} plots to {output}")
    return 0

