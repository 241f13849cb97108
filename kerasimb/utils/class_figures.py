"""Per-class F1 from a confusion matrix, grouped per-class F1 bars, and the features a model learned.

Used by `recipes/aduni.py` for the AdUni paper's Fig. 5 (per-class F1 of several methods) and
Fig. 4 (a 2-D picture of the learned features, with `utils.embedding_plot.plot_embedding`).
"""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.images import to_float_images
from kerasimb.utils.plotting import (check_names, draw_grouped_bars, grouped_bar_width,
                                     legend_outside, new_figure, save_figure)

__all__ = ["model_features", "per_class_f1", "per_class_scores", "plot_per_class_f1"]


@kerasimb_export("kerasimb.utils.class_figures.per_class_f1", serializable=False)
def per_class_f1(confusion_matrix):
    """Returns the F1 score of every class from a confusion matrix (rows true, columns predicted).

    F1_k = 2 M_kk / (sum of row k + sum of column k); NaN for a class that is neither present
    nor predicted (0 / 0).

    Args:
        confusion_matrix: square array-like `(C, C)` of counts, rows the true classes.

    Returns:
        float array `(C,)`.

    Raises:
        ValueError: the matrix is not square 2-D, or has negative entries.

    Example:

    >>> per_class_f1([[3, 1], [0, 2]]).round(4).tolist()
    [0.8571, 0.8]
    """
    m = np.asarray(confusion_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0 or (m < 0).any():
        raise ValueError(
            "Invalid value received for argument `confusion_matrix`. Expected a non-empty square "
            f"2-D array of non-negative counts. Received: confusion_matrix with shape {m.shape}"
        )
    denominator = m.sum(axis=1) + m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2.0 * np.diag(m) / denominator, np.nan)


@kerasimb_export("kerasimb.utils.class_figures.per_class_scores", serializable=False)
def per_class_scores(confusion_matrix):
    """Returns the support, recall, precision and F1 of every class from a confusion matrix.

    With `M` the matrix (rows true classes, columns predictions): recall_k = M_kk / row k,
    precision_k = M_kk / column k, F1_k = 2 M_kk / (row k + column k). A ratio whose
    denominator is 0 is NaN (a class absent from the true labels has no recall, a class never
    predicted has no precision), not silently 0.

    Args:
        confusion_matrix: square array-like `(C, C)` of non-negative counts.

    Returns:
        dict with `support` (int array `(C,)`, true examples per class), `predicted` (int array,
        predictions per class), `recall`, `precision` and `f1` (float arrays `(C,)`).

    Raises:
        ValueError: the matrix is not square 2-D, or has negative entries.

    Example:

    >>> scores = per_class_scores([[3, 1], [0, 2]])
    >>> scores["recall"].tolist(), scores["precision"].round(4).tolist()
    ([0.75, 1.0], [1.0, 0.6667])
    """
    f1 = per_class_f1(confusion_matrix)  # checks the matrix
    m = np.asarray(confusion_matrix, dtype=np.float64)
    hits, support, predicted = np.diag(m), m.sum(axis=1), m.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        precision = np.where(predicted > 0, hits / predicted, np.nan)
    return {"support": support.astype(np.int64), "predicted": predicted.astype(np.int64),
            "recall": recall, "precision": precision, "f1": f1}


@kerasimb_export("kerasimb.utils.class_figures.plot_per_class_f1", serializable=False)
def plot_per_class_f1(scores, class_names=None, errors=None, path=None, title=None):
    """Grouped bars of per-class F1, one colour per method (the AdUni paper's Fig. 5 layout).

    Args:
        scores: dict method label -> sequence `(C,)` of F1 scores (NaN bars are left empty).
        class_names: list of `C` str or `None` (class indices). Defaults to `None`.
        errors: `None` or dict method label -> sequence `(C,)` of error-bar half-lengths
            (e.g. the std over seeds), clipped so that no bar reaches below 0 or above 1.
            Defaults to `None`.
        path: str, path-like or `None`: where to save the PNG. Defaults to `None`.
        title: str or `None`. Defaults to `None`.

    Returns:
        The `matplotlib.figure.Figure`.

    Raises:
        ValueError: no methods, or methods with different numbers of classes.

    Example:

    >>> figure = plot_per_class_f1({"ce": [0.9, 0.2], "aduni": [0.8, 0.5]}, ["a", "b"])
    >>> len(figure.axes[0].patches)
    4
    """
    if not isinstance(scores, dict) or not scores:
        raise ValueError(
            "Invalid value received for argument `scores`. Expected a non-empty dict method -> "
            f"per-class F1 scores. Received: scores={scores!r}"
        )
    values = {label: np.asarray(v, dtype=np.float64).reshape(-1) for label, v in scores.items()}
    sizes = {len(v) for v in values.values()}
    if len(sizes) != 1:
        raise ValueError(
            "Invalid value received for argument `scores`. Expected the same number of classes "
            f"for every method. Received: sizes {sorted(sizes)}"
        )
    num_classes = sizes.pop()
    names = check_names(class_names, num_classes)
    if errors is not None and not isinstance(errors, dict):
        raise ValueError(
            "Invalid value received for argument `errors`. Expected `None` or a dict method -> "
            f"per-class errors. Received: errors={errors!r}"
        )
    figure = new_figure((grouped_bar_width(num_classes, len(values)), 4.0))
    ax = figure.add_subplot(1, 1, 1)
    draw_grouped_bars(ax, values, errors)
    positions = np.arange(num_classes)
    rotate = num_classes > 6 or max(map(len, names)) > 3
    ax.set_xticks(positions, names, rotation=30 if rotate else 0,
                  ha="right" if rotate else "center", rotation_mode="anchor")
    ax.set_xlim(-0.6, num_classes - 0.4)
    ax.set_ylim(0.0, 1.02)
    ax.set_ylabel("F1")
    ax.set_xlabel("class")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title)
    legend_outside(ax, title="method")
    return save_figure(figure, path)


@kerasimb_export("kerasimb.utils.class_figures.model_features", serializable=False)
def model_features(model, x, batch_size=256):
    """Returns the learned features of images `x` for a model with an `encoder`, else `None`.

    `models.AdUni` (and any model with an `encoder` sub-model) gives its encoder's pooled
    features, the representation the classifier and the projection head share. Usable as
    `callbacks.FeatureSnapshot(x, features_fn=model_features)`, which then records `None` for
    the other models.

    Args:
        model: a `keras.Model`.
        x: images `(N, H, W, C)`, uint8 (scaled to [0, 1]) or float.
        batch_size: int. Defaults to `256`.

    Returns:
        float array `(N, d)`, or `None`.

    Example:

    >>> import numpy as np
    >>> from kerasimb.models import AdUni, SmallCNN, feature_extractor
    >>> encoder = feature_extractor(SmallCNN((8, 8, 1), 2, width=2, depth=1))
    >>> model_features(AdUni(encoder, 2, projection_dim=4), np.zeros((3, 8, 8, 1))).shape
    (3, 2)
    >>> model_features(encoder, np.zeros((3, 8, 8, 1))) is None
    True
    """
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return None
    return np.asarray(encoder.predict(to_float_images(x), batch_size=batch_size, verbose=0))
