import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, f1_score

from kerasimb.models import AdUni, SmallCNN, feature_extractor
from kerasimb.utils.class_figures import model_features, per_class_f1, plot_per_class_f1


def test_per_class_f1_matches_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(5):
        y_true, y_pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
        matrix = confusion_matrix(y_true, y_pred, labels=range(4))
        np.testing.assert_allclose(per_class_f1(matrix),
                                   f1_score(y_true, y_pred, labels=range(4), average=None))


def test_per_class_f1_absent_class_is_nan_and_errors():
    scores = per_class_f1([[2, 0, 0], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_allclose(scores[:2], [2 * 2 / (2 + 3), 2 * 1 / (2 + 1)])
    assert np.isnan(scores[2])
    with pytest.raises(ValueError, match="Invalid value received for argument `confusion_matrix`"):
        per_class_f1([[1, 2, 3]])
    with pytest.raises(ValueError, match="non-negative"):
        per_class_f1([[1, -1], [0, 1]])


def test_plot_per_class_f1_writes_png(tmp_path):
    path = tmp_path / "f1.png"
    figure = plot_per_class_f1({"ce": [0.9, 0.1, np.nan], "aduni": [0.8, 0.5, 0.3]},
                               ["a", "b", "c"], errors={"ce": [0.1, 0.0, 0.0]}, path=path,
                               title="F1")
    assert path.exists() and path.stat().st_size > 0
    heights = [p.get_height() for p in figure.axes[0].patches]
    np.testing.assert_allclose(heights, [0.9, 0.1, 0.0, 0.8, 0.5, 0.3])
    with pytest.raises(ValueError, match="same number of classes"):
        plot_per_class_f1({"ce": [0.1, 0.2], "x": [0.3]})
    with pytest.raises(ValueError, match="Invalid value received for argument `scores`"):
        plot_per_class_f1({})
    with pytest.raises(ValueError, match="class_names"):
        plot_per_class_f1({"ce": [0.1, 0.2]}, ["only one"])


def test_model_features_uses_the_encoder():
    encoder = feature_extractor(SmallCNN((8, 8, 1), 3, width=2, depth=1))
    model = AdUni(encoder, 3, projection_dim=4)
    x = np.random.default_rng(1).integers(0, 255, (5, 8, 8, 1)).astype(np.uint8)
    features = model_features(model, x)
    expected = encoder.predict(x.astype(np.float32) / 255.0, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    assert model_features(SmallCNN((8, 8, 1), 3, width=2, depth=1), x) is None
