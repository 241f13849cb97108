"""`compare()`: train several methods under identical conditions and score them side by side.

Every method is trained with the same model, epochs, batch size, learning rate and seeds through
`Method.train`, predicts the test split through `Method.predict`, and is scored by
`kerasimb.metrics.report`. The `ComparisonResult` holds every report, the test probabilities and
the training curves; `result.table()` prints the markdown table (mean ± standard deviation over
seeds, and each method's paired difference from the baseline with its bootstrap interval) and
`result.save(folder)` writes `metrics.json`, `report.md`, `predictions.npz` and PNG plots
(`kerasimb.runs.report`).

Example:

>>> from kerasimb import runs
>>> result = runs.compare("digits-lt", epochs=30, seeds=[0, 1, 2])  # doctest: +SKIP
>>> print(result.table())  # doctest: +SKIP
>>> result.save("runs/digits")  # doctest: +SKIP
"""

import datetime
import json
import logging
import os
import platform
import time

import keras
import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from kerasimb import methods as methods_module
from kerasimb.api_export import kerasimb_export
from kerasimb.callbacks.best_weights import SELECTABLE, BestValidationWeights
from kerasimb.callbacks.divergence import DivergenceMonitor, TrainingDiverged
from kerasimb.callbacks.freeze import check_freeze_backbone, freeze_callbacks
from kerasimb.data.augment import resolve_augment
from kerasimb.data.datasets import load_dataset
from kerasimb.data.folds import check_fold_count, fold_as_test_datasets, kfold_datasets
from kerasimb.data.image_dataset import ImageDataset
from kerasimb.inference.temperature import apply_temperature, fit_temperature
from kerasimb.methods.optimization import optimizer_class_name, training_config
from kerasimb.metrics.calibration import CALIBRATION_METRICS, negative_log_likelihood
from kerasimb.metrics.report import SCALAR_METRICS
from kerasimb.metrics.report import report as metrics_report
from kerasimb.models.backbones import check_weights, model_fn
from kerasimb.runs.lock import RunLock
from kerasimb.runs.manifest import check_experiment, lists_unchanged, start_experiment
from kerasimb.runs.report import run_text
from kerasimb.runs.result import ComparisonResult
from kerasimb.runs.resume import train_resumable
from kerasimb.runs.shard import check_shard, shard_runs, shard_text
from kerasimb.runs.store import (RunStore, callback_arrays, check_output_dir,
                                 dataset_fingerprint, restore_callback_arrays, run_name)
from kerasimb.utils import runtime
from kerasimb.utils.atomic import atomic_path
from kerasimb.utils.formatting import jsonable, safe_name
from kerasimb.utils.validation import check_float, check_int
from kerasimb.version import __version__

__all__ = ["compare", "compare_kwargs", "dataset_info", "run_fingerprint", "tensorboard_callbacks"]


@kerasimb_export("kerasimb.runs.compare_kwargs", serializable=False)
def compare_kwargs(args):
    """The `compare` keyword arguments that the shared run flags of the `kerasimb` commands and
    recipes set (`args` is their `argparse.Namespace`, or any object with those attributes).

    Returns:
        dict with `backbone`, `epochs`, `seeds`, `batch_size`, `learning_rate`, `verbose`,
        `progress` (not `--no-progress`), `overwrite` (`--restart`), `mixed_precision`,
        `distribute`, `jit_compile` (`"on"` -> `True`, `"off"` -> `False`, `"auto"`), `weights`,
        `tensorboard`, `augment` (`"none"` -> `None`), `freeze_backbone`,
        `stop_on_divergence` and `calibrate` (the last three `None`/`False` when `args` lacks
        them), `folds` (`--folds`; `None` when absent or 0), `fold_as_test` (`--fold-as-test`)
        and `test_dataset` (`--test-dataset`, an `ImageDataset` the command loaded, or `None`),
        and `optimizer` (`methods.optimization.training_config` of `--optimizer`,
        `--momentum`, `--nesterov`, `--weight-decay`, `--lr-schedule`, `--lr-warmup-epochs`,
        `--lr-floor`: `None` for Adam at a constant rate or when `args` lacks them).

    Example:

    >>> import argparse
    >>> args = argparse.Namespace(backbone="small_cnn", epochs=3, seeds=[0], batch_size=32,
    ...     learning_rate=1e-3, verbose=0, no_progress=True, restart=False,
    ...     mixed_precision="float32", distribute="none", jit_compile="off", weights=None,
    ...     tensorboard=None, augment="none", freeze_backbone=None, stop_on_divergence=False)
    >>> compare_kwargs(args)["jit_compile"], compare_kwargs(args)["progress"]
    (False, False)
    """
    return {
        "backbone": args.backbone,
        "epochs": args.epochs,
        "seeds": list(args.seeds),
        "batch_size": args.batch_size,
        "learning_rate": args.learning_rate,
        "verbose": args.verbose,
        "progress": not args.no_progress,
        "overwrite": bool(args.restart),
        "mixed_precision": args.mixed_precision,
        "distribute": args.distribute,
        "jit_compile": {"auto": "auto", "on": True, "off": False}[args.jit_compile],
        "weights": args.weights,
        "tensorboard": args.tensorboard,
        "augment": None if args.augment == "none" else args.augment,
        "freeze_backbone": getattr(args, "freeze_backbone", None),
        "stop_on_divergence": bool(getattr(args, "stop_on_divergence", False)),
        "calibrate": bool(getattr(args, "calibrate", False)),
        "folds": getattr(args, "folds", None) or None,  # (0, a recipe's "no folds", is None)
        "fold_as_test": bool(getattr(args, "fold_as_test", False)),
        "test_dataset": getattr(args, "test_dataset", None),
        "optimizer": training_config({
            "optimizer": getattr(args, "optimizer", "adam"),
            "momentum": getattr(args, "momentum", None),
            "nesterov": bool(getattr(args, "nesterov", False)),
            "weight_decay": getattr(args, "weight_decay", None),
            "lr_schedule": getattr(args, "lr_schedule", "constant"),
            "warmup_epochs": getattr(args, "lr_warmup_epochs", 0),
            "lr_floor": getattr(args, "lr_floor", 0.0),
        }),
    }


@kerasimb_export("kerasimb.runs.dataset_info", serializable=False)
def dataset_info(dataset):
    """The dataset facts a report prints: name, classes, counts per split, image shape,
    imbalance ratio, whether the classes are ordinal, the summary text and, for image folders,
    the test images' file names (`test_paths`, the `path` column of `predictions.csv`)."""
    num_classes = dataset.num_classes
    test_paths = (dataset.paths or {}).get("test")
    return {
        "name": dataset.name,
        "num_classes": num_classes,
        "class_names": list(dataset.class_names),
        "class_counts": list(dataset.class_counts),
        "val_counts": np.bincount(dataset.val[1], minlength=num_classes).tolist(),
        "test_counts": np.bincount(dataset.test[1], minlength=num_classes).tolist(),
        "image_shape": list(dataset.image_shape),
        "train_size": len(dataset.train[1]),
        "val_size": len(dataset.val[1]),
        "test_size": len(dataset.test[1]),
        "imbalance_ratio": float(dataset.imbalance_ratio),
        "ordinal": bool(dataset.ordinal),
        "summary": dataset.summary(),
        **({} if test_paths is None else {"test_paths": list(test_paths)}),
    }


def _resolve_methods(methods):
    """Returns `[(label, Method instance)]` with unique labels."""
    registry = methods_module
    original = methods
    if methods is None:
        methods = registry.names()
    elif isinstance(methods, (str, registry.Method)) or (
        isinstance(methods, type) and issubclass(methods, registry.Method)
    ):
        methods = [methods]
    else:
        methods = list(methods)
    if not methods:
        raise ValueError(
            "Invalid value received for argument `methods`. Expected `None` (every registered "
            f"method: {registry.names()}) or at least one method. Received: methods={methods!r}"
        )
    for method in methods:
        if isinstance(method, str) and not method.strip(" ,"):
            raise ValueError(
                "Invalid value received for argument `methods`. Expected a method name, not an "
                f"empty one. Received: methods={original!r}")
        if isinstance(method, str) and "," in method:
            names = [m.strip() for m in method.split(",") if m.strip()]
            raise ValueError(
                "Invalid value received for argument `methods`. Expected a list of method "
                f"names, one name per item, e.g. {names}. Received: methods={original!r}")
    instances = [registry.get(m) for m in methods]
    labels = [m.name or type(m).__name__ for m in instances]
    for i, method in enumerate(instances):
        if labels.count(labels[i]) > 1:  # the same method twice with other parameters
            changed = {k: v for k, v in method.params.items() if method.defaults.get(k) != v}
            if changed:
                labels[i] += "(" + ", ".join(f"{k}={v!r}" for k, v in changed.items()) + ")"
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(
            "Invalid value received for argument `methods`. Expected each method once. "
            f"Received duplicates: {duplicates}"
        )
    return list(zip(labels, instances))


def _check_baseline(baseline, labels):
    """The baseline's label: `baseline` if it is one of `labels`, the first label if `None`."""
    if baseline is None:
        return labels[0]
    if baseline not in labels:
        raise ValueError(
            "Invalid value received for argument `baseline`. Expected `None` (the first method) "
            f"or one of the compared methods {labels}. Received: baseline={baseline!r}")
    return baseline


def _check_seeds(seeds):
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise TypeError(
            "Invalid type received for argument `seeds`. Expected a sequence of integers. "
            f"Received: seeds={seeds!r}"
        )
    seeds = [check_int(s, "seeds", minimum=0) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(
            "Invalid value received for argument `seeds`. Expected a non-empty sequence of "
            f"distinct integers. Received: seeds={seeds}"
        )
    return seeds


class _EpochProgress(keras.callbacks.Callback):
    """Shows the epoch a run has reached (and its validation loss) beside the progress bar."""

    def __init__(self, bar, text, epochs):
        super().__init__()
        self.bar, self.text, self.epochs = bar, text, epochs

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("val_loss")
        self.bar.set_postfix_str(f"{self.text}, epoch {epoch + 1}/{self.epochs}"
                                 + ("" if loss is None else f", val loss {float(loss):.3g}"))


class _RetracingFilter(logging.Filter):
    """Drops TensorFlow's retracing warning: every run builds a new model, so its `predict`
    function is traced anew by design."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def _versions():
    return {"kerasimb": __version__, "keras": keras.__version__,
            "tensorflow": tf.__version__, "python": platform.python_version()}


def _selection_callbacks(select_by, dataset, method):
    """`[BestValidationWeights]` for model selection on the validation split, or `[]`.

    Scores with `method.predict`; a method wrapping another (a modifier such as `+perturb`,
    whose prediction needs state prepared after training) is scored with the wrapped method's.
    """
    if select_by is None:
        return []
    scorer = getattr(method, "base", method)
    return [BestValidationWeights(*dataset.val, monitor=select_by, predict_fn=scorer.predict)]


def _model_path(save_models, output_dir, label, seed):
    """Where `save_models` puts the model of (`label`, `seed`), or `None` (not saved)."""
    if not save_models:
        return None
    if callable(save_models):
        return os.fspath(save_models(label, seed))
    return os.path.join(output_dir, "models", safe_name(label), run_name(seed), "model.keras")


def _save_model(path, model):
    """Saves a `.keras` file atomically (a kill never leaves half a model)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        model.save(tmp)


@kerasimb_export("kerasimb.runs.tensorboard_callbacks", serializable=False)
def tensorboard_callbacks(folder, label, seed):
    """`[keras.callbacks.TensorBoard]` logging one run under `folder`, or `[]`."""
    if folder is None:
        return []
    return [keras.callbacks.TensorBoard(os.path.join(folder, safe_name(label), run_name(seed)))]


# The settings every saved run is checked against (`run_fingerprint`); the optional ones are
# recorded only when set, so that folders made before those options existed keep resuming.
FINGERPRINT_SETTINGS = ("backbone", "epochs", "batch_size", "learning_rate", "optimizer",
                        "callbacks", "select_by", "mixed_precision", "distribute", "jit_compile")
OPTIONAL_FINGERPRINT_SETTINGS = ("weights", "augment", "freeze_backbone", "calibrate", "training",
                                 "test_time_flip", "folds", "fold_as_test", "fold_seed",
                                 "test_dataset")


@kerasimb_export("kerasimb.runs.run_fingerprint", serializable=False)
def run_fingerprint(settings, dataset_hash, label, seed):
    """Every setting a saved run of `compare(output_dir=)` depends on: a run in the folder is
    reused or resumed only when its recorded fingerprint equals this one (`RunStore.load`).

    The fingerprint holds the comparison's `backbone`, `epochs`, `batch_size`,
    `learning_rate`, `optimizer`, `callbacks`, `select_by`, `mixed_precision`, `distribute`
    and `jit_compile`; `weights`, `augment`, `freeze_backbone`, `calibrate`, `training`
    (the optimizer's and schedule's settings), `test_time_flip`, `folds`, `fold_as_test`,
    `fold_seed` and `test_dataset` (the external test set's fingerprint) when they are not `None`
    (folders made before these options keep resuming); the dataset's fingerprint; the method's
    class, parameters and description; and the seed. The start time, the versions, the other
    seeds and methods, and what only changes the report (`baseline`, `main_metric`) are not
    part of it.

    Args:
        settings: dict, the comparison's settings (`ComparisonResult.settings`), with every key
            above and `methods` (`{label: {"class", "params", "description"}}`).
        dataset_hash: dict, `dataset_fingerprint(dataset)` of the compared dataset.
        label: str, the method's label (a key of `settings["methods"]`).
        seed: int, the run's seed, or its name (`"fold<i>"` with `compare(folds=)`).

    Returns:
        A JSON-compatible dict.

    Example:

    >>> settings = {"methods": {"ce": {"class": "CrossEntropy", "params": {}, "description": ""}},
    ...             "backbone": "small_cnn", "epochs": 2, "batch_size": 8, "learning_rate": 0.001,
    ...             "optimizer": "Adam", "callbacks": [], "select_by": None,
    ...             "mixed_precision": "float32", "distribute": "none", "jit_compile": "auto",
    ...             "weights": None, "augment": "flip", "freeze_backbone": None}
    >>> sorted(run_fingerprint(settings, {"name": "toy"}, "ce", 0))
    ['augment', 'backbone', 'batch_size', 'callbacks', 'dataset', 'distribute', 'epochs',
     'jit_compile', 'learning_rate', 'method', 'mixed_precision', 'optimizer', 'seed',
     'select_by']
    """
    fingerprint = {key: settings[key] for key in FINGERPRINT_SETTINGS}
    fingerprint["dataset"] = dataset_hash
    for key in OPTIONAL_FINGERPRINT_SETTINGS:
        if settings.get(key) is not None:
            fingerprint[key] = settings[key]
    return jsonable({**fingerprint, "method": settings["methods"][label], "seed": seed})


def _check_finite_probabilities(probabilities, history):
    """Raises `TrainingDiverged` when a trained model's test probabilities are not finite
    (weights that overflowed in a way the losses did not show, e.g. in a second stage)."""
    if np.isfinite(probabilities).all():
        return
    losses = [v for v in history.get("loss", []) if v is not None and np.isfinite(v)]
    reason = "the predicted test probabilities became non-finite"
    epoch = max(len(history.get("loss", [])), 1)
    raise TrainingDiverged(reason, epoch=epoch,
                           last_finite_loss=float(losses[-1]) if losses else None,
                           reason=reason, history=history)


def _predict(method, model, x, test_time_flip=False):
    """`method.predict(model, x)` as float32, or with `test_time_flip` the mean of it and
    `method.predict` of the horizontally mirrored images (the width axis reversed), so that
    every method keeps its own output transform."""
    probabilities = np.asarray(method.predict(model, x), dtype=np.float32)
    if test_time_flip:
        mirrored = np.asarray(method.predict(model, np.asarray(x)[:, :, ::-1]), np.float32)
        probabilities = (probabilities + mirrored) / 2.0
    return probabilities


def _calibrate(method, model, dataset, test_probabilities, history, test_time_flip=False):
    """Fits a temperature on the validation predictions (flip-averaged as the test ones with
    `test_time_flip`); returns the calibrated test probabilities and `{"temperature", "before",
    "validation_nll"}`."""
    x_val, y_val = dataset.val
    val_probabilities = _predict(method, model, x_val, test_time_flip)
    _check_finite_probabilities(val_probabilities, history)
    temperature = fit_temperature(y_val, val_probabilities)
    calibrated = apply_temperature(test_probabilities, temperature)
    before = metrics_report(dataset.test[1], test_probabilities)
    return calibrated, {
        "temperature": temperature,
        "before": {key: before[key] for key in CALIBRATION_METRICS},
        "validation_nll": {
            "before": negative_log_likelihood(y_val, val_probabilities),
            "after": negative_log_likelihood(y_val, apply_temperature(val_probabilities,
                                                                       temperature))},
    }


def _divergence_error(run, output_dir):
    """The `TrainingDiverged` that `stop_on_divergence=True` raises for a diverged run record."""
    info = run["diverged"]
    loss = info.get("last_finite_loss")
    where = f"; recorded in {output_dir!r}" if output_dir is not None else ""
    return TrainingDiverged(
        f"`{run['method']}` {run_text(run['seed'])} diverged at epoch {info['epoch']}: "
        f"{info['reason']} (last finite training loss: "
        f"{'none' if loss is None else format(loss, '.4g')}){where}. Lower the learning rate "
        "(`learning_rate`, --learning-rate), or leave out `stop_on_divergence=True` "
        "(--stop-on-divergence) to record diverged runs and go on with the others.",
        epoch=info["epoch"], last_finite_loss=loss, reason=info["reason"],
        history=run.get("history"))


# The name under which a run's external test probabilities are kept with its stored arrays.
EXTERNAL_ARRAY = "external_test_probabilities"


def _check_folds(folds, fold_as_test, seeds):
    """Returns `(folds, fold_as_test)` checked (`folds` `None` or an int >= 2)."""
    if not isinstance(fold_as_test, (bool, np.bool_)):
        raise TypeError("Invalid type received for argument `fold_as_test`. Expected a bool. "
                        f"Received: fold_as_test={fold_as_test!r}")
    if folds is None:
        if fold_as_test:
            raise ValueError(
                "Invalid value received for argument `fold_as_test`. Expected False without "
                "`folds` (it tests on each held-out fold of a K-fold split; pass folds=K, "
                "--folds K). Received: fold_as_test=True, folds=None")
        return None, False
    if isinstance(folds, (int, np.integer)) and not isinstance(folds, bool) and folds < 2:
        raise ValueError(
            "Invalid value received for argument `folds`. Expected None or an integer >= 2 "
            f"(the number of cross-validation folds). Received: folds={folds!r}")
    folds = check_int(folds, "folds", minimum=2)
    if fold_as_test and folds < 3:
        raise ValueError(
            "Invalid value received for argument `folds`. Expected at least 3 with "
            "`fold_as_test` (one fold tests, the next validates, the others train). "
            f"Received: folds={folds}")
    if len(seeds) > 1:
        raise ValueError(
            "Invalid value received for argument `seeds`. Expected a single seed with `folds` "
            "(it sets the fold split and every fold's training; the folds are the repeats). "
            f"Received: seeds={seeds}, folds={folds}")
    return folds, bool(fold_as_test)


def _check_test_dataset(test_dataset, dataset):
    """Raises `ValueError` unless `test_dataset` can test models trained on `dataset`."""
    if list(test_dataset.class_names) != list(dataset.class_names):
        raise ValueError(
            "Invalid value received for argument `test_dataset`. Expected the classes of the "
            f"compared dataset, in the same order ({list(dataset.class_names)}). Received: "
            f"test_dataset={test_dataset.name!r} with classes {list(test_dataset.class_names)}")
    if tuple(test_dataset.image_shape) != tuple(dataset.image_shape):
        raise ValueError(
            "Invalid value received for argument `test_dataset`. Expected images of the "
            f"compared dataset's shape {tuple(dataset.image_shape)} (load it at the same image "
            f"size, --image-size). Received: test_dataset={test_dataset.name!r} with images of "
            f"shape {tuple(test_dataset.image_shape)}")
    if len(test_dataset.test[1]) == 0:
        raise ValueError(
            "Invalid value received for argument `test_dataset`. Expected a dataset with test "
            f"images. Received: test_dataset={test_dataset.name!r} with an empty test split")


def _splits(dataset, seeds, folds, fold_as_test):
    """`{run key: (ImageDataset, training seed)}`: one run per seed, or one per fold."""
    if not folds:
        return {seed: (dataset, seed) for seed in seeds}
    if fold_as_test:
        y = np.concatenate([dataset.train[1], dataset.val[1], dataset.test[1]])
        check_fold_count(y, folds, dataset.class_names,
                         where=f"the training, validation and test splits of {dataset.name}")
        parts = fold_as_test_datasets(dataset, folds, seed=seeds[0])
    else:
        y = np.concatenate([dataset.train[1], dataset.val[1]])
        check_fold_count(y, folds, dataset.class_names,
                         where=f"the training and validation splits of {dataset.name}")
        parts = kfold_datasets(dataset, folds, seed=seeds[0])
    return {f"fold{i}": (part, seeds[0]) for i, part in enumerate(parts)}


def _strategy_text(strategy):
    """`"none"`, or the strategy's class name and replica count (for the saved settings)."""
    if strategy is None:
        return "none"
    return f"{type(strategy).__name__}({strategy.num_replicas_in_sync} replicas)"


@kerasimb_export("kerasimb.runs.compare", serializable=False)
def compare(
    dataset,
    methods=None,
    backbone="small_cnn",
    epochs=20,
    seeds=(0,),
    batch_size=32,
    learning_rate=1e-3,
    verbose=0,
    progress=True,
    callbacks=(),
    select_by=None,
    output_dir=None,
    overwrite=False,
    mixed_precision=None,
    distribute=None,
    jit_compile="auto",
    save_models=False,
    tensorboard=None,
    weights=None,
    augment=None,
    freeze_backbone=None,
    stop_on_divergence=False,
    baseline=None,
    main_metric="balanced_accuracy",
    calibrate=False,
    shard=None,
    optimizer=None,
    test_time_flip=False,
    folds=None,
    fold_as_test=False,
    test_dataset=None,
):
    """Trains every method on `dataset` under identical conditions and scores it on the test split.

    For each method and seed: `keras.backend.clear_session()`, then `method.train(dataset,
    model_fn, epochs, batch_size, learning_rate, seed)` (which seeds weights and batches; the
    validation split is scored every epoch), then `method.predict(model, test images)` and
    `metrics.report(...)` on the test split. The model of the last epoch is evaluated (no
    model selection) unless `select_by` is given, the same for every method. Runs are
    deterministic given the seeds on the same machine and software.

    Args:
        dataset: an `ImageDataset`, or a name for `data.load_dataset` (e.g. `"digits-lt"`).
        methods: `None` (every registered method, `methods.names()`), or a sequence of method
            names, `Method` subclasses or instances (one method alone is accepted too). The same
            method twice with different parameters gets labels like
            `reweight(weighting='sqrt_inverse')`.
        backbone: str or callable. `"small_cnn"` or a backbone name for `models.model_fn`, or a
            callable `(input_shape, num_classes) -> keras.Model` with logits output.
            Defaults to `"small_cnn"`.
        epochs: int >= 1. Defaults to `20`.
        seeds: non-empty sequence of distinct ints >= 0. Defaults to `(0,)`.
        batch_size: int >= 1. Defaults to `32`.
        learning_rate: float > 0. The (base) learning rate. Defaults to `1e-3`.
        verbose: `fit` verbosity. Defaults to `0`.
        progress: bool. Show a tqdm progress bar over the (method, seed) runs. Defaults to `True`.
        callbacks: extra Keras callbacks passed to every `fit`. Defaults to `()`.
        select_by: `None` (evaluate the last epoch) or a `metrics.report` key such as `"mcc"`,
            `"quadratic_kappa"` or `"balanced_accuracy"`: model selection on the validation
            split. A `callbacks.BestValidationWeights(x_val, y_val, select_by,
            predict_fn=method.predict)` is added to every run's `fit`, which restores the
            weights of the epoch with the best validation score before the test split is
            scored. Defaults to `None`.
        output_dir: `None` or a folder that makes the comparison resumable. Each finished
            (method, seed) run is written to `output_dir/runs/` (atomically) as soon as it ends,
            and an unfinished run keeps a `callbacks.ResumableBackup` after every epoch in
            `output_dir/backup/`. Calling `compare` again with the same arguments and folder
            (after a crash, `kill` or Ctrl-C) loads the finished runs instead of training them
            and continues the unfinished one from its last completed epoch, giving the same
            metrics as an uninterrupted run (see the README's determinism notes; two-stage
            methods continue stage 1 and redo stage 2; progressive sampling resumes on slightly
            different batches). Callbacks with `run_arrays()` / `restore_run_arrays(arrays)`
            (e.g. `callbacks.FeatureSnapshot`) have their per-run arrays kept with each finished
            run and handed back when it is loaded. The folder belongs to one experiment (its
            `manifest.json`, `runs.manifest`: the settings every run shares, i.e. the dataset,
            model, epochs, batch size, learning rate, selection, precision, ...); more or other
            methods and seeds with the same settings extend it, a folder holding another
            experiment is an error naming what differs. Defaults to `None`.
        overwrite: bool. With `output_dir`, discard its saved runs and backups first instead of
            resuming, and the files the experiment held there wrote (those its `manifest.json`
            lists; never other files). Defaults to `False`.
        mixed_precision: `None` (float32), `"mixed_float16"`, `"mixed_bfloat16"` or `"auto"`
            (float16 on a GPU, bfloat16 otherwise): the Keras dtype policy under which every
            model is built, trained and scored (see `kerasimb.utils.precision_policy`). Model
            outputs, losses and metrics stay float32. Defaults to `None`.
        distribute: `None`/`"none"`, `"mirrored"`, `"multiworker"`, `"tpu"` or a
            `tf.distribute.Strategy`: every run builds, compiles and trains its model under the
            strategy's scope (`kerasimb.utils.make_strategy`); `batch_size` is the global batch
            size, split across the replicas. Defaults to `None`.
        jit_compile: `"auto"` (XLA on a GPU only, Keras' rule), `True` or `False`: XLA for
            the training steps. Defaults to `"auto"`.
        save_models: `False`, `True` or a callable `(label, seed) -> path`. Save every trained
            model, with what its predictions need, as an `inference.InferenceModel` `.keras`
            file (`Method.inference_model`): at `output_dir/models/<method>/seed<seed>/
            model.keras`, or where the callable says. Needs `output_dir`; a resumed run's model
            is the one saved when it finished. Defaults to `False`.
        tensorboard: `None` or a folder: TensorBoard logs of every run in
            `<folder>/<method>/seed<seed>/` (`keras.callbacks.TensorBoard`). Defaults to `None`.
        augment: `None` or an augmentation of every method's training images
            (`Method.train(augment=)`: `"flip"`, `"standard"`, a dict of `data.augment_batch`
            arguments); a method that augments its own views (`Method.own_views`: AdUni,
            PaCo) trains on those instead. Defaults to `None` (each method's own: none for
            most).
        weights: `None`, `"imagenet"` or the path of a weights file: pretrained weights of a
            `keras.applications` backbone named by `backbone` (`models.check_weights`: offline,
            `"imagenet"` fails at once). Defaults to `None`.
        freeze_backbone: `None`, `True` or an int from 1 to `epochs - 1`: train the head on a
            frozen pretrained backbone (`callbacks.FreezeBackbone`) throughout (`True`) or for
            that many epochs, then fine-tune every layer. Needs `weights` with a backbone name
            (a frozen random backbone has nothing to keep). Defaults to `None`.
        stop_on_divergence: bool. What to do with a run that diverges (its training or
            validation loss becomes NaN or infinite, `callbacks.DivergenceMonitor`, or its
            predicted test probabilities are not finite). `False`: the run stops there, is
            recorded as diverged (`run["diverged"]`: the 1-based epoch, the last finite
            training loss and what was not finite; no scores, no probabilities, no model) and
            the comparison goes on with the other methods and seeds; the report says
            "diverged at epoch k" and leaves the run out of the mean ± std. `True`: raise
            `callbacks.TrainingDiverged` instead (the run is still recorded in `output_dir`,
            so a resumed comparison does not train it again). Defaults to `False`.
        baseline: `None` or the label of one of the methods: the method every other one is
            judged against in the table's `vs baseline` column (the paired difference of
            `main_metric` with its 95 % bootstrap interval over seeds and test images,
            `ComparisonResult.versus_baseline`). Defaults to `None` (the first method).
        main_metric: str, a scalar `metrics.report` key (`metrics.SCALAR_METRICS`): the figure
            of the `vs baseline` column. Defaults to `"balanced_accuracy"`. Neither it nor
            `baseline` changes a run: a folder's finished runs are reused whatever they are.
        calibrate: bool. Temperature scaling: after training, one temperature per run is fitted
            on the validation split's predictions (`inference.fit_temperature`, minimising their
            negative log-likelihood) and applied to the test probabilities, which the report
            then scores; `run["calibration"]` keeps the temperature and the test calibration
            figures before it (`"before"`: `ece`, `classwise_ece`, `brier`, `nll`). A saved model
            stores the temperature (`InferenceModel(temperature=)`). The arg-max, hence every
            figure but the calibration ones and the AUC of more than 2 classes, is unchanged.
            Defaults to `False`.
        shard: `None`, or `(K, N)` (or the text `"K/N"`) with 1 <= K <= N: train only shard K
            of N of the runs, beside the other shards, started at once (on this machine or
            others) with the same arguments and the same `output_dir`. Run `i` of the (method,
            seed) runs, methods in order each with every seed, belongs to shard
            `(i % N) + 1` (`runs.shard_runs`). Every process training a run of a folder holds
            its lock file (`runs.RunLock`, `runs/<method>/seed<seed>.lock`, refreshed every
            30 s; one untouched for 10 minutes, or left by a process of this host that is gone,
            is taken over), so two processes never train the same run; a run another live
            process holds is waited for. The shard that finds every run of the comparison
            stored once its own are done writes the report (`ComparisonResult.save`, under
            `report.lock`: once, even when two finish together); calling `compare` again
            without `shard` (same arguments and folder) loads every stored run without
            training. A killed shard is resumed by running it again. Needs `output_dir`, and
            `overwrite=False`. Defaults to `None`.
        optimizer: `None` (Adam at a constant `learning_rate`, as before this setting existed),
            an optimizer name (`"adam"`, `"sgd"`, `"adamw"`) or a training-configuration dict
            (`methods.optimization.training_config`: `optimizer`, `momentum`, `nesterov`,
            `weight_decay`, `lr_schedule` (`"constant"`, `"cosine"`, `"step"`, `"cyclic"`),
            `warmup_epochs`, `lr_floor`, `step_epochs`, `step_factor`, `cycle_epochs`), passed
            to every method's `train`. It is recorded in `settings["optimizer"]` (the class
            name) and `settings["training"]` (the full dict, `None` for the default), part of
            every run's fingerprint, and stated in the report. Defaults to `None`.
        test_time_flip: bool. Test-time augmentation as Galdran et al. (2021): every run's test
            probabilities are the mean of `method.predict` of the images and of their
            horizontally mirrored copies (and so are the validation probabilities that
            `calibrate` fits its temperature on); model selection (`select_by`) scores the
            plain validation predictions, as the paper monitors validation during training and
            averages the flips after it. Recorded in `settings["test_time_flip"]` (`None` when
            off) and part of every run's fingerprint when on, so a folder made without it is
            not resumed with it. A saved model (`save_models`) predicts without the flips; its
            metadata says `test_time_flip` (`kerasimb predict --tta flip` averages them).
            Defaults to `False`.
        folds: `None` or an int K >= 2: stratified K-fold cross-validation
            (`data.stratified_folds`) instead of one run per seed. Each method runs once per
            fold, labelled `fold0` ... `fold<K-1>` (its run is stored as
            `runs/<method>/fold<i>.json`). By default the training and validation splits are
            pooled, fold `i` validates and the other folds train, and the test split is the
            same for every fold (`data.kfold_datasets`). `seeds` must then hold a single seed:
            it sets the fold split and is the training seed of every fold, so that the folds
            differ only by their images (more seeds are refused rather than multiplying the
            runs). The report gives the mean ± std and the median over the folds; `vs baseline`
            pairs the methods fold by fold. K may not exceed the image count of the smallest
            class of the pooled images. Defaults to `None`.
        fold_as_test: bool. With `folds` (K >= 3): pool the training, validation and test
            splits; fold `i` is the test set, fold `(i + 1) % K` the validation set, the rest
            train (`data.folds.fold_as_test_datasets`). The figures are then over K different
            test sets, and the bootstrap pairs each fold with its own test labels.
            Defaults to `False`.
        test_dataset: `None`, an `ImageDataset` or a dataset name: an external test set. Every
            trained run also predicts its test split, scored by `metrics.report` into
            `run["external_report"]`; the report gets a table of them and `metrics.json` an
            `external` section. It needs the compared dataset's class names (in the same order)
            and image shape (load it at the same image size). Defaults to `None`.

    Returns:
        A `ComparisonResult`. With `shard`, it has a `shard` attribute, a dict: `"shard"`
        `[K, N]`, `"runs"` (this shard's `[method, seed]` pairs), `"trained"` and `"loaded"`
        (those it trained, and those it found finished), `"missing"` (the comparison's runs not
        stored yet), `"complete"` (none missing) and `"report"` (the paths `save` wrote when
        this shard wrote the report, else `None`). The result holds this shard's runs, or
        every run once `complete`.

    Raises:
        ValueError: an unknown method name (the message lists the registered ones), no methods,
            `epochs` < 1, empty or repeated `seeds`, an unknown backbone name, `batch_size`
            larger than the training split, a `baseline` that is not one of the methods, an
            unknown `main_metric`.
        TypeError: a `dataset` that is neither an `ImageDataset` nor a name.
        ValueError: `output_dir` is a file or not writable; a `shard` that is not K of N with
            1 <= K <= N, or given without `output_dir` or with `overwrite=True`.
        ValueError: `output_dir` holds another experiment or runs made with other settings
            (any of `run_fingerprint`'s: dataset, backbone, epochs, batch size, learning rate,
            method parameters, `select_by`, ...), unless `overwrite=True`.
        callbacks.TrainingDiverged: (a `ValueError`) a run diverged, or a resumed folder holds
            a diverged run, with `stop_on_divergence=True`.
        ValueError: `folds` < 2 or above the smallest class's pooled count (the class and its
            count are named), `folds` with more than one seed, `fold_as_test` without `folds`
            or with `folds` < 3, a `test_dataset` with other class names or image shape; all
            raised before any training.

    Example with folds:

    >>> result = compare("digits-lt", ["ce"], epochs=1, folds=3)  # doctest: +SKIP
    >>> result.medians()["ce"]["balanced_accuracy"]  # doctest: +SKIP
    """
    if not isinstance(dataset, (ImageDataset, str)):
        raise TypeError(
            "Invalid type received for argument `dataset`. Expected an `ImageDataset` or a "
            f"dataset name. Received: dataset of type {type(dataset).__name__}"
        )
    method_list = _resolve_methods(methods)
    baseline = _check_baseline(baseline, [label for label, _ in method_list])
    if main_metric not in SCALAR_METRICS:
        raise ValueError(
            "Invalid value received for argument `main_metric`. Expected a scalar "
            f"`metrics.report` key, one of {list(SCALAR_METRICS)}. Received: "
            f"main_metric={main_metric!r}")
    epochs = check_int(epochs, "epochs", minimum=1)
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    learning_rate = check_float(learning_rate, "learning_rate", minimum=0.0, min_inclusive=False)
    training = training_config(optimizer)
    seeds = _check_seeds(seeds)
    folds, fold_as_test = _check_folds(folds, fold_as_test, seeds)
    if test_dataset is not None and not isinstance(test_dataset, (ImageDataset, str)):
        raise TypeError(
            "Invalid type received for argument `test_dataset`. Expected None, an "
            f"`ImageDataset` or a dataset name. Received: test_dataset of type "
            f"{type(test_dataset).__name__}")
    policy = runtime.resolve_precision(mixed_precision, "mixed_precision")
    jit_compile = runtime.check_jit_compile(jit_compile)
    strategy = runtime.make_strategy(distribute)
    if isinstance(backbone, str):
        check_weights(backbone, weights)
        make_model = model_fn(backbone, **({} if weights is None else {"weights": weights}))
        backbone_text = make_model.name
    elif callable(backbone) and weights is None:
        make_model = backbone
        backbone_text = getattr(backbone, "__name__", None) or repr(backbone)
    elif callable(backbone):
        raise ValueError(
            "Invalid value received for argument `weights`. Expected None with a callable "
            "`backbone` (build the model with its weights there), or a backbone name. Received: "
            f"weights={weights!r}")
    else:
        raise TypeError(
            "Invalid type received for argument `backbone`. Expected a model name or a callable "
            f"(input_shape, num_classes) -> keras.Model. Received: backbone={backbone!r}"
        )
    callbacks = list(callbacks)
    freeze_backbone = check_freeze_backbone(freeze_backbone, epochs)
    if freeze_backbone is not None and isinstance(backbone, str) and weights is None:
        raise ValueError(
            "Invalid value received for argument `freeze_backbone`. Expected None without "
            "pretrained `weights` (a frozen randomly initialised backbone learns nothing; pass "
            "`weights`, e.g. --weights PATH). Received: "
            f"freeze_backbone={freeze_backbone!r}, weights=None")
    if augment is not None:
        resolve_augment(augment)  # checks the value now
    if output_dir is not None:
        check_output_dir(output_dir)
    shard = check_shard(shard)
    if shard is not None and output_dir is None:
        raise ValueError(
            "Invalid value received for argument `shard`. Expected None without an "
            "`output_dir` (the shards share it: each stores its runs there, and the last to "
            f"finish writes the report from them). Received: shard={shard}, output_dir=None")
    if shard is not None and overwrite:
        raise ValueError(
            "Invalid value received for argument `shard`. Expected None with `overwrite=True` "
            "(`--restart`): each shard would discard the runs the others stored; clear the "
            "folder once without `shard`, or give the shards a new folder. Received: "
            f"shard={shard}, overwrite={overwrite!r}")
    if save_models and output_dir is None:
        raise ValueError("Invalid value received for argument `save_models`. Expected False "
                         "without an `output_dir` (the models are saved in it). Received: "
                         f"save_models={save_models!r}, output_dir=None")
    if select_by is not None and select_by not in SELECTABLE:
        raise ValueError(
            "Invalid value received for argument `select_by`. Expected None or one of "
            f"{list(SELECTABLE)}. Received: select_by={select_by!r}"
        )
    if not isinstance(stop_on_divergence, (bool, np.bool_)):
        raise TypeError(
            "Invalid type received for argument `stop_on_divergence`. Expected a bool. "
            f"Received: stop_on_divergence={stop_on_divergence!r}")
    if not isinstance(calibrate, (bool, np.bool_)):
        raise TypeError("Invalid type received for argument `calibrate`. Expected a bool. "
                        f"Received: calibrate={calibrate!r}")
    if not isinstance(test_time_flip, (bool, np.bool_)):
        raise TypeError("Invalid type received for argument `test_time_flip`. Expected a bool. "
                        f"Received: test_time_flip={test_time_flip!r}")
    if isinstance(dataset, str):  # load only once every other argument is known to be valid
        dataset = load_dataset(dataset)
    if isinstance(test_dataset, str):
        test_dataset = load_dataset(test_dataset)
    if test_dataset is not None:
        _check_test_dataset(test_dataset, dataset)
    splits = _splits(dataset, seeds, folds, fold_as_test)  # {run key: (dataset, training seed)}
    smallest_train = min(len(split.train[1]) for split, _ in splits.values())
    if calibrate and min(len(split.val[1]) for split, _ in splits.values()) < 2:
        raise ValueError(
            "Invalid value received for argument `calibrate`. Expected False for a dataset "
            f"without a validation split to fit the temperature on ({dataset.name} has "
            f"{len(dataset.val[1])} validation images). Received: calibrate=True")
    if batch_size > smallest_train:  # before any training starts
        raise ValueError(
            "Invalid value received for argument `batch_size`. Expected at most the number of "
            f"training examples ({smallest_train} in {dataset.name}"
            f"{', its smallest fold' if folds else ''}). "
            f"Received: batch_size={batch_size}"
        )

    settings = {
        "methods": {
            label: {"class": type(m).__name__, "params": dict(m.params),
                    "description": m.description}
            for label, m in method_list
        },
        "backbone": backbone_text,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": optimizer_class_name(training),
        # the optimizer's and schedule's settings, `None` for Adam at a constant rate (so that
        # folders made before these settings existed keep resuming)
        "training": training,
        "seeds": seeds,
        "evaluated_on": "held-out fold" if fold_as_test else "test",
        "folds": folds,
        "fold_as_test": True if fold_as_test else None,
        "fold_seed": seeds[0] if folds else None,
        "test_dataset": None if test_dataset is None else {
            "name": test_dataset.name, "fingerprint": dataset_fingerprint(test_dataset)},
        "callbacks": [type(c).__name__ for c in callbacks],
        "select_by": select_by,
        "mixed_precision": policy,
        "distribute": _strategy_text(strategy),
        "jit_compile": jit_compile,
        "weights": weights,
        "augment": augment if augment is None or isinstance(augment, (str, dict, bool))
        else repr(augment),
        # the methods that trained on their own views instead of `augment` (report only)
        "own_views": [label for label, m in method_list if m.own_views] if augment else None,
        "freeze_backbone": freeze_backbone,
        "baseline": baseline,  # these two only change the report, never a run's fingerprint
        "main_metric": main_metric,
        "calibrate": True if calibrate else None,
        "test_time_flip": True if test_time_flip else None,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    dataset_hash = dataset_fingerprint(dataset)  # hashed once, not per run
    common = {key: settings[key] for key in FINGERPRINT_SETTINGS}
    common["dataset"] = dataset_hash
    for key in OPTIONAL_FINGERPRINT_SETTINGS:  # (folders made before these options keep resuming)
        if settings[key] is not None:
            common[key] = settings[key]
    # What the output folder's manifest.json says it holds: an output folder belongs to one
    # experiment, and another one there is refused unless `overwrite` (`runs.manifest`). The
    # experiment is the settings every run shares; its methods and seeds are its runs (more or
    # fewer of them is the same experiment: the store checks each run's own settings).
    experiment = jsonable({"kind": "compare", "settings": {
        **common, **({"models": "custom"} if callable(save_models) else {})}})
    store = None
    if output_dir is not None:
        check_experiment(output_dir, experiment, overwrite=bool(overwrite))
        store = RunStore(output_dir, overwrite=bool(overwrite))
    order = [(label, key) for label, _ in method_list for key in splits]
    share = shard_runs(order, shard)  # every run without a shard
    methods_by_label = dict(method_list)
    fingerprints, finished = {}, {}
    if store is not None:  # every saved run checked against the settings before any training
        for label, seed in order:  # (the other shards' runs too)
            fingerprints[label, seed] = run_fingerprint(settings, dataset_hash, label, seed)
            finished[label, seed] = store.load(label, seed, fingerprints[label, seed])
            if finished[label, seed] is not None and "diverged" in finished[label, seed][0]:
                if stop_on_divergence:
                    raise _divergence_error(finished[label, seed][0], store.output_dir)
                continue  # no model to save: the run diverged
            path = _model_path(save_models, output_dir, label, seed)
            if finished[label, seed] is not None and path and not os.path.exists(path):
                raise ValueError(
                    "Invalid value received for argument `save_models`. The run of "
                    f"`{label}` {run_text(seed)} in {store.output_dir!r} finished without "
                    "saving its model; start the folder afresh with `overwrite=True` (`--restart`) "
                    f"to save it. Received: save_models={save_models!r}")
        start_experiment(output_dir, experiment, overwrite=bool(overwrite))
    records = {}  # (label, seed) -> (run record, test probabilities or None when it diverged)
    trained, loaded = [], []
    start = time.perf_counter()
    retracing_filter = _RetracingFilter()
    logging.getLogger("tensorflow").addFilter(retracing_filter)
    bar = tqdm(total=len(share), unit="run", disable=not progress,
               desc=f"compare on {dataset.name}" + (
                   f", shard {shard_text(shard)}" if shard is not None else ""))

    external = {}  # (label, seed) -> external test probabilities

    def load_run(label, seed, found):
        run, probs = found
        records[label, seed] = (run, None if "diverged" in run else probs)
        arrays = store.load_arrays(label, seed)
        if test_dataset is not None and EXTERNAL_ARRAY in arrays:
            external[label, seed] = np.asarray(arrays[EXTERNAL_ARRAY], dtype=np.float32)
        restore_callback_arrays(callbacks, arrays)

    def train_run(label, seed):
        method = methods_by_label[label]
        split, train_seed = splits[seed]  # (`seed` is the run's key: a seed, or "fold<i>")
        x_test, y_test = split.test
        external_probs = None
        keras.backend.clear_session()
        run_start = time.perf_counter()
        train_kwargs = dict(
            epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            callbacks=[DivergenceMonitor()] + callbacks
            + _selection_callbacks(select_by, split, method)
            + tensorboard_callbacks(tensorboard, label, seed)
            + freeze_callbacks(freeze_backbone)
            + ([_EpochProgress(bar, f"{label}, {run_text(seed)}", epochs)] if progress else []),
            verbose=verbose, jit_compile=jit_compile,
            **({} if augment is None or method.own_views else {"augment": augment}),
            **({} if training is None else {"optimizer": training}))
        diverged, calibration = None, None
        try:
            with runtime.run_context(policy, strategy):
                if store is None:
                    model, history = method.train(split, make_model, seed=train_seed,
                                                  **train_kwargs)
                    history = history.history
                else:
                    model, history = train_resumable(store, label, seed,
                                                     fingerprints[label, seed], method,
                                                     split, make_model, train_seed=train_seed,
                                                     **train_kwargs)
                probs = _predict(method, model, x_test, test_time_flip)
                _check_finite_probabilities(probs, history)
                if calibrate:
                    probs, calibration = _calibrate(method, model, split, probs, history,
                                                    test_time_flip)
                if test_dataset is not None:
                    external_probs = _predict(method, model, test_dataset.test[0],
                                              test_time_flip)
                    _check_finite_probabilities(external_probs, history)
                    if calibration:
                        external_probs = apply_temperature(external_probs,
                                                           calibration["temperature"])
                path = _model_path(save_models, output_dir, label, seed)
                if path:
                    _save_model(path, method.inference_model(model, split, jsonable({
                        "method": label, "params": method.params,
                        "backbone": backbone_text, "seed": train_seed,
                        **({"fold": seed} if folds else {}), "epochs": epochs,
                        "batch_size": batch_size, "learning_rate": learning_rate,
                        **({} if training is None else {"training": training}),
                        "select_by": select_by, "dataset": dataset_fingerprint(dataset),
                        **({"test_time_flip": True} if test_time_flip else {}),
                        "kerasimb": __version__}), temperature=(
                            calibration["temperature"] if calibration else 1.0)))
                del model
        except TrainingDiverged as error:
            diverged, history = error.with_traceback(None), error.history
            probs = np.zeros((0, dataset.num_classes), np.float32)
        seconds = time.perf_counter() - run_start
        run = {
            "method": label,
            "seed": seed,
            **({"fold": int(seed[len("fold"):]), "training_seed": train_seed} if folds else {}),
            "report": {} if diverged else jsonable(metrics_report(
                y_test, probs, class_names=dataset.class_names,
                class_counts=split.class_counts)),
            **({"external_report": jsonable(metrics_report(
                test_dataset.test[1], external_probs, class_names=dataset.class_names,
                class_counts=split.class_counts))}
               if external_probs is not None and not diverged else {}),
            "history": jsonable({k: list(v) for k, v in history.items()}),
            "seconds": round(seconds, 3),
            **({"diverged": jsonable(diverged.record())} if diverged else {}),
            **({"calibration": jsonable(calibration)} if calibrate and not diverged else {}),
        }
        records[label, seed] = (run, None if diverged else probs)
        if external_probs is not None and not diverged:
            external[label, seed] = external_probs
        trained.append((label, seed))
        if store is not None:
            store.save(label, seed, fingerprints[label, seed], run, probs,
                       arrays={**callback_arrays(callbacks), **(
                           {EXTERNAL_ARRAY: external_probs}
                           if external_probs is not None and not diverged else {})})
        if diverged:
            if stop_on_divergence:
                raise _divergence_error(run, output_dir)
            if progress:
                bar.write(f"{label}, {run_text(seed)}: diverged at epoch "
                          f"{diverged.epoch} ({diverged.reason}); recorded, going on")

    def claim_run(label, seed, waiting):
        """Trains the run under its lock, or loads it when another process finished it;
        returns `False` (doing nothing) while another live process holds its lock."""
        lock = RunLock(store.lock_path(label, seed))
        if not lock.acquire():
            if (label, seed) not in waiting:
                waiting.add((label, seed))
                bar.write(f"{label}, {run_text(seed)}: being trained by {lock.describe()} "
                          f"({lock.path}); waiting for it")
            return False
        try:
            if lock.took_over:
                bar.write(f"{label}, {run_text(seed)}: took over its lock ({lock.took_over})")
            found = store.load(label, seed, fingerprints[label, seed])
            if found is not None:  # finished by the process that held the lock
                load_run(label, seed, found)
                loaded.append((label, seed))
            else:
                train_run(label, seed)
        finally:
            lock.release()
            if not store.finished(label, seed):  # failed: no empty runs/<method>/ left behind
                store.drop_empty_folders(label, seed)
        return True

    try:
        held, waiting = [], set()
        for label, seed in share:
            bar.set_postfix_str(f"{label}, {run_text(seed)}")
            if finished.get((label, seed)) is not None:
                load_run(label, seed, finished[label, seed])
                loaded.append((label, seed))
            elif store is None:
                train_run(label, seed)
            elif not claim_run(label, seed, waiting):
                held.append((label, seed))  # come back to it once the others are done
                continue
            bar.update(1)
        while held:  # runs another process is training: until it finishes them, or its lock
            time.sleep(_WAIT_SECONDS)  # goes stale (then this process trains them)
            for label, seed in list(held):
                if claim_run(label, seed, waiting):
                    held.remove((label, seed))
                    bar.update(1)
    finally:
        bar.close()
        logging.getLogger("tensorflow").removeFilter(retracing_filter)
        keras.backend.clear_session()
    missing = []
    if shard is not None:  # with every run stored (this shard's were the last), the report
        missing = [key for key in order if not store.finished(*key)]
        if not missing:  # needs the other shards' runs too
            for label, seed in order:
                if (label, seed) not in records:
                    load_run(label, seed, store.load(label, seed, fingerprints[label, seed]))
    keys = [key for key in order if key in records]
    files = []
    for label, seed in keys if store is not None else ():
        files += store.paths(label, seed)
        path = _model_path(save_models, output_dir, label, seed)
        files += [path] if path else []
    # Training time of the runs reported (those loaded from the store count the time they took
    # when trained), and this call's own wall time.
    settings["total_seconds"] = round(sum(records[key][0]["seconds"] for key in keys), 3)
    settings["wall_seconds"] = round(time.perf_counter() - start, 3)
    settings["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    files = [path for path in files if os.path.isfile(path)]  # (no model for a diverged run)
    first = next(iter(splits.values()))[0]
    result = ComparisonResult(
        dataset_info(dataset), settings, [records[key][0] for key in keys],
        None if fold_as_test else first.test[1],
        {key: records[key][1] for key in keys if records[key][1] is not None},
        experiment=experiment, files=files,
        test_labels={k: split.test[1] for k, (split, _) in splits.items()}
        if fold_as_test else None,
        external=None if test_dataset is None else {
            "dataset": dataset_info(test_dataset), "y_true": test_dataset.test[1],
            "probabilities": {key: external[key] for key in keys if key in external}})
    if shard is not None:
        result.shard = {
            "shard": list(shard), "runs": [list(key) for key in share],
            "trained": [list(key) for key in trained], "loaded": [list(key) for key in loaded],
            "missing": [list(key) for key in missing], "complete": not missing, "report": None}
        if not missing:
            result.shard["report"] = _write_report_once(result, store, order)
    return result


# How often a process waiting for a run (or the report) another process holds looks again.
_WAIT_SECONDS = 2.0
# The lock of the report of a sharded comparison: the shard holding it writes the report.
REPORT_LOCK = "report.lock"


def _write_report_once(result, store, order):
    """Writes `result`'s report to the store's folder unless another shard already wrote it
    from the same runs (under `report.lock`, so that two shards finishing at once write it
    once); returns the paths written (`save_comparison`), or `None`."""
    output_dir = store.output_dir
    lock = RunLock(os.path.join(output_dir, REPORT_LOCK))
    while not lock.acquire():  # another shard is writing it (seconds)
        time.sleep(_WAIT_SECONDS)
    try:
        names = ["report.md", "metrics.json"] + [
            os.path.relpath(store.paths(label, seed)[0], output_dir).replace(os.sep, "/")
            for label, seed in order]
        if lists_unchanged(output_dir, names, result.experiment):
            try:
                with open(os.path.join(output_dir, "metrics.json"), encoding="utf-8") as f:
                    saved = json.load(f).get("settings") or {}
            except (OSError, ValueError, AttributeError):
                saved = {}
            if all(saved.get(key) == jsonable(result.settings.get(key))
                   for key in ("methods", "seeds", "baseline", "main_metric")):
                return None  # written by another shard after every run was stored
        return result.save(output_dir)
    finally:
        lock.release()
