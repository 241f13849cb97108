"""2-D views of learned features: PCA or t-SNE coordinates and a scatter plot coloured by class."""

import numpy as np

from kerasimb.api_export import kerasimb_export
from kerasimb.utils.plotting import check_names, legend_outside, new_figure, save_figure
from kerasimb.utils.validation import check_choice, check_labels

__all__ = ["embed_2d", "plot_embedding"]


@kerasimb_export("kerasimb.utils.embedding_plot.embed_2d", serializable=False)
def embed_2d(features, method="pca", seed=0):
    """Returns 2-D coordinates `(N, 2)` of feature vectors by PCA or t-SNE (scikit-learn).

    Args:
        features: array `(N, d)`, N >= 3 for t-SNE, d >= 2.
        method: `"pca"` or `"tsne"`. Defaults to `"pca"`.
        seed: int. Seeds t-SNE (and PCA's solver). Defaults to `0`.

    Returns:
        Float array `(N, 2)`.

    Raises:
        ValueError: an unknown method, or features that are not `(N, d)` with d >= 2.

    Example:

    >>> import numpy as np
    >>> points = embed_2d(np.array([[0.0, 0, 0], [1, 1, 0], [2, 2, 0.1]]))
    >>> points.shape
    (3, 2)
    """
    check_choice(method, "method", ("pca", "tsne"))
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] < 2 or len(features) < 2:
        raise ValueError(
            "Invalid value received for argument `features`. Expected an array (N, d) with "
            f"N >= 2 and d >= 2. Received: shape {features.shape}"
        )
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(features)
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, max(1.0, (len(features) - 1) / 3.0)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca",
                random_state=seed).fit_transform(features)


@kerasimb_export("kerasimb.utils.embedding_plot.plot_embedding", serializable=False)
def plot_embedding(features, labels, class_names=None, method="pca", path=None, title=None,
                   seed=0):
    """Scatter plot of `embed_2d(features)` coloured by class; saved to `path` if given.

    Args:
        features: array `(N, d)`.
        labels: integer labels `(N,)`.
        class_names: list of str or `None` (class indices). Defaults to `None`.
        method: `"pca"` or `"tsne"`. Defaults to `"pca"`.
        path: str, path-like or `None`. Defaults to `None`.
        title: str or `None`. Defaults to `None`.
        seed: int. Defaults to `0`.

    Returns:
        The `matplotlib.figure.Figure`.

    Example:

    >>> import numpy as np
    >>> features = np.random.default_rng(0).normal(size=(20, 4))
    >>> figure = plot_embedding(features, np.arange(20) % 2, ["a", "b"])
    >>> figure.axes[0].get_xlabel()
    'PCA 1'
    """
    known = None if class_names is None else len(class_names)
    labels = check_labels(labels, num_classes=known, name="labels")
    num_classes = int(labels.max()) + 1 if known is None else known
    names = check_names(class_names, num_classes)
    features = np.asarray(features)
    if len(features) != len(labels):
        raise ValueError(
            "Invalid value received for argument `labels`. Expected one label per feature "
            f"vector ({len(features)}). Received: {len(labels)} labels"
        )
    points = embed_2d(features, method, seed)
    figure = new_figure((7.0, 4.5))
    ax = figure.add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if num_classes <= 10 else "tab20"]
    for c, name in enumerate(names):
        chosen = labels == c
        if chosen.any():
            ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=cmap(c % cmap.N),
                       label=f"{name} ({int(chosen.sum())})", alpha=0.8)
    label = "PCA" if method == "pca" else "t-SNE"
    ax.set_xlabel(f"{label} 1")
    ax.set_ylabel(f"{label} 2")
    if title:
        ax.set_title(title)
    legend_outside(ax, fontsize=7, markerscale=1.5)
    return save_figure(figure, path)
