"""Resumable training: one run of a method that survives a killed process.

`train_resumable` gives the run a `callbacks.ResumableBackup` in the store's backup folder and
hands it to `Method.train(..., resume=backup)` explicitly: the method continues an interrupted
run from its last completed epoch, on the batches an uninterrupted run would see. `compare` and
the recipes that train outside `compare` use it for every run of a resumable output folder.
"""

from kerasimb.api_export import kerasimb_export
from kerasimb.callbacks.backup import ResumableBackup
from kerasimb.callbacks.divergence import TrainingDiverged

__all__ = ["train_resumable"]


@kerasimb_export("kerasimb.runs.train_resumable", serializable=False)
def train_resumable(store, label, seed, fingerprint, method, dataset, model_fn, train_seed=None,
                    **train_kwargs):
    """`method.train(dataset, model_fn, seed=seed, ...)` that survives a killed process.

    The run trains with a `callbacks.ResumableBackup` in `store.backup_dir(label, seed)` (after
    checking an unfinished run's settings against `fingerprint`), kept when `fit` ends: calling
    this again after an interruption continues from the last completed epoch, on the batches an
    uninterrupted run would see, and after a completed `fit` (killed while the trained model was
    being scored) restores the trained model without training. `store.save(label, seed, ...)`
    marks the run finished and drops the backup.

    Args:
        store: `runs.RunStore`.
        label, seed: the run's name and seed (`seed` is passed to `method.train`); `seed` may
            be a text naming the run (e.g. `"fold0"`, `store.run_name`), with `train_seed`.
        fingerprint: JSON-compatible dict of every setting the run depends on.
        method: `methods.Method`.
        dataset: `ImageDataset`.
        model_fn: callable `(input_shape, num_classes) -> keras.Model`.
        train_seed: `None` (`seed`) or the int seed passed to `method.train` when `seed` names
            the run otherwise. Defaults to `None`.
        **train_kwargs: more `method.train` arguments (`epochs`, `batch_size`, `callbacks`, ...).

    Returns:
        `(model, history)`: the trained model and the `History.history` dict of the whole run
        (epochs trained before the interruption included).

    Raises:
        ValueError: the folder holds a run of `label` / `seed` made with other settings, or the
            run is finished already.
        callbacks.TrainingDiverged: raised by a `callbacks.DivergenceMonitor` among the
            callbacks; its `history` then covers the epochs trained before an interruption too.
    """
    if store.load(label, seed, fingerprint) is not None:
        raise ValueError(
            f"Invalid value received for argument `label`. Expected a run not finished yet. "
            f"Received: label={label!r}, seed={seed}, already finished in {store.output_dir!r} "
            "(load it with `store.load`)"
        )
    backup = ResumableBackup(store.start(label, seed, fingerprint), delete_checkpoint=False)
    try:
        model, history = method.train(dataset, model_fn,
                                      seed=seed if train_seed is None else train_seed,
                                      resume=backup,
                                      **train_kwargs)
    except TrainingDiverged as error:
        error.history = backup.history(error.history)
        raise
    return model, backup.history(history.history)
