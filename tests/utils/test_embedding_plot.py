import numpy as np
import pytest

from kerasimb.utils.embedding_plot import embed_2d, plot_embedding


def test_pca_matches_svd_up_to_sign():
    features = np.random.default_rng(0).normal(size=(30, 5)) * [5, 3, 1, 0.5, 0.1]
    points = embed_2d(features, "pca")
    centred = features - features.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    np.testing.assert_allclose(np.abs(points), np.abs(expected), atol=1e-8)


def test_tsne_shape_and_plot_file(tmp_path):
    rng = np.random.default_rng(1)
    features = np.concatenate([rng.normal(0, 1, (10, 4)), rng.normal(8, 1, (10, 4))])
    assert embed_2d(features, "tsne").shape == (20, 2)
    labels = np.repeat([0, 1], 10)
    path = tmp_path / "emb.png"
    figure = plot_embedding(features, labels, ["a", "b"], path=path, title="t")
    assert path.exists() and figure.axes[0].get_title() == "t"
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["a (10)", "b (10)"]


def test_errors():
    with pytest.raises(ValueError, match="Received: method='umap'"):
        embed_2d(np.zeros((3, 2)), "umap")
    with pytest.raises(ValueError, match="features"):
        embed_2d(np.zeros((3,)))
    with pytest.raises(ValueError, match="one label per feature"):
        plot_embedding(np.zeros((3, 2)), [0, 1])
    with pytest.raises(ValueError, match="labels"):
        plot_embedding(np.zeros((3, 2)), [0, 1, 1], ["a"])
