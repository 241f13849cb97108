"""`train()`: one method on one dataset, kept as a model to deploy.

The same training as `compare` (it is `compare` with one method and `save_models`), resumable
from its output folder, but each trained model is saved as an `inference.InferenceModel`:
`<output>/model.keras` for one seed, `<output>/seed<k>/model.keras` for several. Beside it:
`report.md`, `metrics.json`, `predictions.npz`, the plots of a comparison, `history.csv` (every
epoch's logs), `training_curves.png` and `manifest.json` (every file written, with its SHA-256;
the folder belongs to this one training run, see `runs.manifest`).

Example:

>>> from kerasimb import runs
>>> result = runs.train("digits-lt", "ldam-drw", "runs/ldam", epochs=30)  # doctest: +SKIP
>>> result.settings["models"]  # doctest: +SKIP
{'0': 'model.keras'}
"""

import csv
import os

from kerasimb.api_export import kerasimb_export
from kerasimb.runs.compare import compare
from kerasimb.runs.report import save_comparison
from kerasimb.utils.atomic import atomic_path
from kerasimb.utils.curves import plot_training_curves

__all__ = ["model_paths", "train"]


@kerasimb_export("kerasimb.runs.model_paths", serializable=False)
def model_paths(seeds):
    """Where `train` saves each seed's model, relative to its output folder:
    `{seed: "model.keras"}` for one seed, `{seed: "seed<k>/model.keras"}` for several.

    >>> model_paths([0]), model_paths([0, 1])
    ({0: 'model.keras'}, {0: 'seed0/model.keras', 1: 'seed1/model.keras'})
    """
    seeds = list(seeds)
    if len(seeds) == 1:
        return {seeds[0]: "model.keras"}
    return {seed: f"seed{seed}/model.keras" for seed in seeds}


@kerasimb_export("kerasimb.runs.train", serializable=False)
def train(dataset, method, output_dir, backbone="small_cnn", epochs=20, seeds=(0,),
          batch_size=32, learning_rate=1e-3, select_by="balanced_accuracy", **compare_kwargs):
    """Trains `method` on `dataset` (one model per seed), saves the models and the report.

    Args:
        dataset: an `ImageDataset` or a name for `data.load_dataset`.
        method: a method name (`"ce"`, `"ldam-drw"`, `"ce+perturb"`, ...), class or instance.
        output_dir: str or path-like. The folder of the models and the report; rerunning the
            same call resumes (finished seeds are loaded, an interrupted one continues).
        backbone, epochs, seeds, batch_size, learning_rate: as in `compare`.
        select_by: a `metrics.report` key: the weights of the epoch with the best validation
            score are kept (`callbacks.BestValidationWeights`), or `None` for the last epoch's.
            Defaults to `"balanced_accuracy"`.
        **compare_kwargs: more `compare` arguments (`verbose`, `progress`, `callbacks`,
            `overwrite`, `mixed_precision`, `distribute`, `jit_compile`, `tensorboard`,
            `weights`, `augment`, `freeze_backbone`, `stop_on_divergence`, `calibrate`: with
            `calibrate=True` each saved model holds the temperature fitted on the validation
            split, which its `predict` applies).

    Returns:
        The `ComparisonResult` of the one method; `result.settings["models"]` maps each seed to
        its model file, relative to `output_dir`. A seed whose run diverged (see `compare`'s
        `stop_on_divergence`) has no model and is not in `settings["models"]`.

    Raises:
        ValueError: as `compare`; `methods` is one method here.
    """
    if isinstance(method, (list, tuple)):
        raise TypeError("Invalid type received for argument `method`. Expected one method (a "
                        f"name, class or instance). Received: method={method!r}")
    output_dir = os.fspath(output_dir)
    paths = model_paths(seeds)
    result = compare(
        dataset, methods=[method], backbone=backbone, epochs=epochs, seeds=list(seeds),
        batch_size=batch_size, learning_rate=learning_rate, select_by=select_by,
        output_dir=output_dir,
        save_models=lambda label, seed: os.path.join(output_dir, paths[seed]),
        **compare_kwargs)
    diverged = {run["seed"] for run in result.diverged()}
    result.settings["models"] = {str(seed): path for seed, path in paths.items()
                                 if seed not in diverged}
    history_files = _save_history(result, output_dir)
    save_comparison(result, output_dir, overwrite=bool(compare_kwargs.get("overwrite")),
                    extra_files=history_files)  # manifest.json last, listing every file
    return result


def _save_history(result, output_dir):
    """`history.csv` (one row per seed and epoch) and `training_curves.png` (left out when no
    seed completed an epoch: every run diverged in its first); returns the paths written."""
    histories = {run["seed"]: run["history"] for run in result.runs}
    keys = sorted({key for history in histories.values() for key in history})
    with atomic_path(os.path.join(output_dir, "history.csv")) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["seed", "epoch", *keys])
            for seed, history in histories.items():
                epochs = max((len(v) for v in history.values()), default=0)
                for epoch in range(epochs):
                    writer.writerow([seed, epoch + 1, *(
                        "" if epoch >= len(history.get(k, [])) or history[k][epoch] is None
                        else repr(float(history[k][epoch])) for k in keys)])
    histories = {seed: history for seed, history in histories.items()
                 if any(history.values())}
    if not histories:
        return [os.path.join(output_dir, "history.csv")]
    with atomic_path(os.path.join(output_dir, "training_curves.png")) as tmp:
        plot_training_curves(histories, tmp, title=f"{result.methods[0]} on "
                                                     f"{result.dataset['name']}")
    return [os.path.join(output_dir, name) for name in ("history.csv", "training_curves.png")]
