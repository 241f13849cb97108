"""`FeatureSnapshot`: records a model's features of fixed images at the end of each `fit`."""

import keras
import numpy as np

from kerasimb.api_export import kerasimb_export


@kerasimb_export("kerasimb.callbacks.FeatureSnapshot", serializable=False)
class FeatureSnapshot(keras.callbacks.Callback):
    """Appends the features of `x` (inference mode) to `self.snapshots` when a `fit` ends.

    Its one side effect is that list: the features are computed by the model's
    `extract_features(x)` (`models.TwoStageClassifier`), or by `features_fn(model, x)` when
    given; models it cannot handle are recorded as `None` (so the list stays aligned with the
    `fit` calls, e.g. one per `(method, seed)` run of `experiment.compare`, in order). With
    `compare(output_dir=...)` the snapshot is kept with each finished run and restored when a
    rerun loads the run instead of training it (`run_arrays` / `restore_run_arrays`).

    Args:
        x: images `(N, H, W, C)`, uint8 or float, e.g. the test split.
        features_fn: `None` or callable `(model, x) -> (N, d)` array. Defaults to `None`.

    Example:

    >>> import numpy as np
    >>> from kerasimb.models import SmallCNN, TwoStageClassifier, feature_extractor
    >>> model = TwoStageClassifier(feature_extractor(SmallCNN((8, 8, 1), 2, width=2, depth=1)), 2)
    >>> model.compile("sgd", "categorical_crossentropy")
    >>> snapshot = FeatureSnapshot(np.zeros((3, 8, 8, 1), "float32"))
    >>> _ = model.fit(np.zeros((4, 8, 8, 1)), np.eye(2)[[0, 1, 0, 1]], verbose=0,
    ...               callbacks=[snapshot])
    >>> snapshot.snapshots[0].shape
    (3, 2)
    """

    def __init__(self, x, features_fn=None):
        super().__init__()
        self.x = np.asarray(x)
        if features_fn is not None and not callable(features_fn):
            raise TypeError(
                "Invalid type received for argument `features_fn`. Expected a callable "
                f"(model, x) -> features or None. Received: features_fn={features_fn!r}"
            )
        self.features_fn = features_fn
        self.snapshots = []

    def on_train_end(self, logs=None):
        if self.features_fn is not None:
            self.snapshots.append(np.asarray(self.features_fn(self.model, self.x)))
        elif hasattr(self.model, "extract_features"):
            self.snapshots.append(np.asarray(self.model.extract_features(self.x)))
        else:
            self.snapshots.append(None)

    def run_arrays(self):
        """The last snapshot as `{"features": array}` (`{}` if none): `experiment.compare`
        keeps it with a finished run when it has an `output_dir`."""
        if not self.snapshots or self.snapshots[-1] is None:
            return {}
        return {"features": self.snapshots[-1]}

    def restore_run_arrays(self, arrays):
        """Appends the snapshot of a run `experiment.compare` loaded from its `output_dir`
        instead of training it (`None` if none was kept), so the list stays aligned."""
        self.snapshots.append(arrays.get("features"))
