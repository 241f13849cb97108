"""`evaluate()`: a saved model scored on a split of a dataset, with the full report.

Example:

>>> from kerasimb import runs
>>> report = runs.evaluate("runs/ldam/model.keras", "digits-lt", output_dir="runs/eval")  # doctest: +SKIP
>>> round(report["balanced_accuracy"], 3)  # doctest: +SKIP
0.84
"""

import csv
import os
import zipfile

import keras
import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from kerasimb.api_export import kerasimb_export
from kerasimb.data.datasets import load_dataset
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.inference.model import InferenceModel
from kerasimb.metrics.calibration import CALIBRATION_METRICS, reliability_bins
from kerasimb.metrics.report import report
from kerasimb.runs.manifest import check_experiment, start_experiment, write_manifest
from kerasimb.runs.report import METRIC_DESCRIPTIONS, default_metrics
from kerasimb.runs.store import check_output_dir, dataset_fingerprint
from kerasimb.utils import plotting
from kerasimb.utils.atomic import atomic_path, write_json, write_text
from kerasimb.utils.formatting import jsonable, markdown_table
from kerasimb.utils.validation import check_choice

__all__ = ["dataset_for", "evaluate", "load_model", "per_class_table", "shown_metrics",
           "write_image_predictions_csv"]


@kerasimb_export("kerasimb.runs.load_model", serializable=False)
def load_model(model):
    """Returns the `inference.InferenceModel` in a `.keras` file (loaded in safe mode), or
    `model` itself when it is one.

    Raises:
        ValueError: a path that does not exist or a file that is not a kerasimb model.
    """
    if isinstance(model, InferenceModel):
        return model
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise ValueError("Invalid value received for argument `model`. Expected a .keras file "
                         f"saved by `kerasimb train`. Received: model={path!r}, which is not a "
                         "file")
    if not zipfile.is_zipfile(path):
        raise ValueError("Invalid value received for argument `model`. Expected a .keras file "
                         f"saved by `kerasimb train`. Received: model={path!r}, which is not a "
                         ".keras file (a zip archive)")
    try:
        loaded = keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises several types for a bad file
        raise ValueError(f"Invalid value received for argument `model`. Expected a .keras file "
                         f"saved by `kerasimb train`. Received: model={path!r}, which could not "
                         f"be loaded: {error}") from None
    if not isinstance(loaded, InferenceModel):
        raise ValueError(f"Invalid value received for argument `model`. Expected a model saved by "
                         f"`kerasimb train` (an `inference.InferenceModel`). Received: {path!r}, "
                         f"a {type(loaded).__name__} without class names and output transform")
    return loaded


@kerasimb_export("kerasimb.runs.dataset_for", serializable=False)
def dataset_for(model, dataset, load_kwargs=None):
    """Loads `dataset` (an `ImageDataset` or a name) at the `InferenceModel`'s image size and
    checks its classes and shape against the model's; returns the `ImageDataset`."""
    height, width, channels = model.image_shape
    if not isinstance(dataset, ImageDataset):
        kwargs = dict(load_kwargs or {})
        if height == width:
            kwargs.setdefault("image_size", height)
        dataset = load_dataset(dataset, **kwargs)
    if list(dataset.class_names) != list(model.class_names):
        raise ValueError(
            "Invalid value received for argument `dataset`. Expected the classes the model was "
            f"trained on, in order: {model.class_names}. Received: {dataset.name} with classes "
            f"{dataset.class_names}")
    if tuple(dataset.image_shape) != tuple(model.image_shape):
        raise ValueError(
            "Invalid value received for argument `dataset`. Expected images of shape "
            f"{model.image_shape} (the model's input). Received: {dataset.name} with images "
            f"{dataset.image_shape}")
    return dataset


def _check_held_out(model, dataset, split):
    """A test split of the training dataset must be the one held out when the model trained."""
    trained_on = model.metadata.get("dataset") or {}
    if split != "test" or trained_on.get("name") != dataset.name:
        return
    if trained_on.get("sha256") != dataset_fingerprint(dataset)["sha256"]:
        raise ValueError(
            f"Invalid value received for argument `dataset`. Expected {dataset.name} as the model "
            "was trained on it, so that its test split is the held-out one. Received: a "
            f"{dataset.name} whose splits differ from the training run's (other files, split or "
            "image size); evaluate on a dataset of another name for an external test")


@kerasimb_export("kerasimb.runs.per_class_table", serializable=False)
def per_class_table(y_true, y_pred, class_names, class_counts=None):
    """Rows `[class, train count, test count, recall, precision, F1]` (NaN where undefined)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    rows = []
    for c, name in enumerate(class_names):
        tp = int(np.sum((y_true == c) & (y_pred == c)))
        support, predicted = int(np.sum(y_true == c)), int(np.sum(y_pred == c))
        recall = tp / support if support else float("nan")
        precision = tp / predicted if predicted else float("nan")
        f1 = 2 * tp / (support + predicted) if support + predicted else float("nan")
        rows.append([name, None if class_counts is None else int(class_counts[c]), support,
                     recall, precision, f1])
    return rows


@kerasimb_export("kerasimb.runs.write_image_predictions_csv", serializable=False)
def write_image_predictions_csv(path, names, probabilities, class_names, y_true=None, errors=None):
    """Writes one row per image: its name (a file path or an index), the true class (when
    known), the predicted class and one probability column per class; `errors` (a dict
    `row -> message`) adds an `error` column whose rows have no prediction."""
    errors = errors or {}
    header = ["path", *(["true_class"] if y_true is not None else []), "predicted_class",
              *[f"p_{name}" for name in class_names], *(["error"] if errors else [])]
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(header)
            for i, name in enumerate(names):
                row = [name]
                if y_true is not None:
                    row.append(class_names[int(y_true[i])])
                if i in errors:
                    row += [""] * (1 + len(class_names)) + [errors[i]]
                else:
                    p = probabilities[i]
                    row += [class_names[int(np.argmax(p))], *(repr(float(v)) for v in p)]
                    row += [""] if errors else []
                writer.writerow(row)
    return os.fspath(path)


def _plot_curves(y_true, probabilities, class_names, kind, path):
    figure = plotting.new_figure((6.5, 4.5))
    axis = figure.subplots()
    for c, name in enumerate(class_names):
        positive = (np.asarray(y_true) == c).astype(int)
        if positive.min() == positive.max():  # the class is absent (or alone): no curve
            continue
        if kind == "roc":
            x, y, _ = roc_curve(positive, probabilities[:, c])
        else:
            y, x, _ = precision_recall_curve(positive, probabilities[:, c])
        axis.plot(x, y, label=name)
    if kind == "roc":
        axis.plot([0, 1], [0, 1], ":", color="grey")
        axis.set_xlabel("false positive rate")
        axis.set_ylabel("true positive rate (recall)")
        axis.set_title("ROC curves (one class against the rest)")
    else:
        axis.set_xlabel("recall")
        axis.set_ylabel("precision")
        axis.set_title("Precision-recall curves (one class against the rest)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.grid(alpha=0.3)
    figure.legend(loc="outside right upper", fontsize=7)
    with atomic_path(path) as tmp:
        plotting.save_figure(figure, tmp)


@kerasimb_export("kerasimb.runs.shown_metrics", serializable=False)
def shown_metrics(result, ordinal):
    """The scalar metrics of a `metrics.report` dict that the report shows: `report.
    default_metrics(ordinal)` (no quadratic kappa for nominal classes) that are defined."""
    return [m for m in default_metrics(bool(ordinal)) if result.get(m) is not None]


def notes(y, predicted, class_names, split):
    """The report's remarks on the scored images: a balanced split (accuracy then equals the
    balanced accuracy) and a model that predicts one class only."""
    text = ""
    counts = np.bincount(y, minlength=len(class_names))
    if counts.min() == counts.max():
        text += (f" The {split} split is balanced ({int(counts[0])} per class): accuracy equals "
                 "balanced accuracy here.")
    if len(np.unique(predicted)) == 1:
        text += (f"\n\n**Warning:** the model predicts one class only "
                 f"({class_names[int(predicted[0])]}) for every image.")
    return text


@kerasimb_export("kerasimb.runs.evaluate", serializable=False)
def evaluate(model, dataset, split="test", output_dir=None, batch_size=256, load_kwargs=None,
             overwrite=False):
    """Scores a saved model on a split of a dataset; writes the full report.

    The images are predicted through the model's own transform (`InferenceModel.predict`: the
    method's output scaling and, for `+perturb` models, the perturbation). A dataset given by
    name is loaded at the model's image size. Scoring the test split of the dataset the model
    was trained on is checked to be the split held out then.

    Files written to `output_dir` (when given): `metrics.json` (the `metrics.report` dict),
    `report.md`, `summary.csv`, `per_class.csv` (recall, precision, F1 per class),
    `predictions.csv` (one row per image: file path or index, true and predicted class,
    probabilities), `confusion_matrix.png`, `reliability.png` (the reliability diagram:
    accuracy against confidence over 15 equal-mass bins), `roc.png` and
    `precision_recall.png`, and last
    `manifest.json` (every file written, with its SHA-256 and size). The folder belongs to one
    evaluation (the model's metadata, the dataset's fingerprint and the split, see
    `runs.manifest`): evaluating again the same way rewrites it, another evaluation there is
    refused unless `overwrite=True`, which removes the files the previous one wrote.

    Args:
        model: a `.keras` path saved by `train`, or an `inference.InferenceModel`.
        dataset: an `ImageDataset` or a name for `data.load_dataset`.
        split: `"test"`, `"val"` or `"train"`. Defaults to `"test"`.
        output_dir: str or `None`. Defaults to `None` (nothing written).
        batch_size: int. Defaults to `256`.
        load_kwargs: dict of more `data.load_dataset` arguments (`data_dir`, ...).
        overwrite: bool. Replace another evaluation (or experiment) held in `output_dir`.
            Defaults to `False`.

    Returns:
        The `metrics.report` dict (its class counts are the model's training counts).

    Raises:
        ValueError: a model file that is not a kerasimb model, a dataset with other classes or
            image shape, a test split that was not held out, an unwritable `output_dir`, an
            `output_dir` holding another experiment (without `overwrite`).
    """
    check_choice(split, "split", ("test", "val", "train"))
    if output_dir is not None:
        output_dir = check_output_dir(output_dir)
    model = load_model(model)
    dataset = dataset_for(model, dataset, load_kwargs)
    _check_held_out(model, dataset, split)
    experiment = {"kind": "evaluate", "settings": {
        "model": jsonable(model.metadata), "image_shape": list(model.image_shape),
        "class_names": list(model.class_names), "dataset": dataset_fingerprint(dataset),
        "split": split}}
    if output_dir is not None:
        check_experiment(output_dir, experiment, overwrite)
    x, y = getattr(dataset, split)
    probabilities = np.asarray(model.predict(np.asarray(x), batch_size=batch_size), np.float32)
    result = report(y, probabilities, class_names=model.class_names,
                    class_counts=model.class_counts)
    if output_dir is not None:
        start_experiment(output_dir, experiment, overwrite)
        names = (dataset.paths or {}).get(split) or [str(i) for i in range(len(y))]
        files = _write_report(model, dataset, split, result, y, probabilities, names,
                              output_dir)
        write_manifest(output_dir, files, experiment)
    return result


def _write_report(model, dataset, split, result, y, probabilities, names, output_dir):
    os.makedirs(output_dir, exist_ok=True)
    predicted = np.argmax(probabilities, axis=1)
    write_json(os.path.join(output_dir, "metrics.json"),
               jsonable({"model": model.metadata, "dataset": dataset.name, "split": split,
                         "report": result}))
    scalars = shown_metrics(result, dataset.ordinal)
    with atomic_path(os.path.join(output_dir, "summary.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["dataset", "split", "images", *scalars])
            writer.writerow([dataset.name, split, len(y), *(repr(float(result[m]))
                                                             for m in scalars)])
    rows = per_class_table(y, predicted, model.class_names, model.class_counts)
    with atomic_path(os.path.join(output_dir, "per_class.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["class", "train_count", "count", "recall", "precision", "f1"])
            writer.writerows(rows)
    write_image_predictions_csv(os.path.join(output_dir, "predictions.csv"), names, probabilities,
                          model.class_names, y_true=y)
    with atomic_path(os.path.join(output_dir, "confusion_matrix.png")) as tmp:
        plotting.plot_confusion_matrix(result["confusion_matrix"], model.class_names, path=tmp,
                                       title=f"{dataset.name}, {split} split")
    with atomic_path(os.path.join(output_dir, "reliability.png")) as tmp:
        plotting.plot_reliability(
            {_method_label(model): {"after": reliability_bins(y, probabilities),
                                 "ece": result["ece"]}},
            path=tmp, title=f"{dataset.name}, {split} split: reliability")
    _plot_curves(y, probabilities, model.class_names, "roc",
                 os.path.join(output_dir, "roc.png"))
    _plot_curves(y, probabilities, model.class_names, "pr",
                 os.path.join(output_dir, "precision_recall.png"))
    meta = model.metadata
    fmt = lambda v: "n/a" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    lines = [
        f"# {meta.get('method', 'model')} on {dataset.name} ({split} split)",
        "",
        f"Model: method `{meta.get('method')}`, backbone `{meta.get('backbone')}`, trained on "
        f"{(meta.get('dataset') or {}).get('name')} (seed {meta.get('seed')}, "
        f"{meta.get('epochs')} epochs); images {model.image_shape}"
        + (f"; predictions on inputs perturbed with ε = {model.perturbation['epsilon']:g}, "
           f"T = {model.perturbation.get('temperature', 1000.0):g}" if model.perturbation else "")
        + ".",
        "",
        f"{len(y)} images." + notes(y, predicted, model.class_names, split),
        "",
        markdown_table(["metric", "value"], [[m, fmt(result[m])] for m in scalars]),
        "",
        *[f"- `{m}`: {METRIC_DESCRIPTIONS.get(m, m)}" for m in scalars],
        "",
        "## Calibration",
        "",
        "Whether a predicted probability means what it says (smaller is better)"
        + (f"; the model divides its logits by the temperature {model.temperature:.3g} fitted "
           "on its validation split" if model.temperature != 1.0 else "") + ".",
        "",
        markdown_table(["metric", "value"], [[m, fmt(result[m])] for m in CALIBRATION_METRICS]),
        "",
        *[f"- `{m}`: {METRIC_DESCRIPTIONS[m]}" for m in CALIBRATION_METRICS],
        "",
        "![reliability diagram](reliability.png)",
        "",
        "## Per class",
        "",
        markdown_table(["class", "train count", f"{split} count", "recall", "precision", "F1"],
                       [[r[0], r[1], r[2], *(fmt(v) for v in r[3:])] for r in rows]),
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![ROC curves](roc.png)",
        "",
        "![precision-recall curves](precision_recall.png)",
        "",
    ]
    write_text(os.path.join(output_dir, "report.md"), "\n".join(lines))
    return [os.path.join(output_dir, name) for name in (
        "metrics.json", "summary.csv", "per_class.csv", "predictions.csv",
        "confusion_matrix.png", "reliability.png", "roc.png", "precision_recall.png",
        "report.md")]


def _method_label(model):
    """The method name a saved model's metadata gives (`"model"` without one)."""
    return str(model.metadata.get("method") or "model")
