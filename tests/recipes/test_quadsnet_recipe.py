"""Smoke test of the recipe kerasimb.recipes.quadsnet and a check of its Table III figures
against scikit-learn."""

import numpy as np
import pytest
from recipe_runner import recipe_parser, run_recipe
from sklearn.metrics import confusion_matrix, f1_score, recall_score

from kerasimb.cli.args import UsageError
from kerasimb.recipes import flags


def load_recipe():
    from kerasimb.recipes import quadsnet

    return quadsnet


def test_table_iii_figures_match_sklearn():
    recipe = load_recipe()
    rng = np.random.default_rng(0)
    for classes in (2, 4):
        y, p = rng.integers(0, classes, 50), rng.integers(0, classes, 50)
        cm = confusion_matrix(y, p, labels=range(classes))
        figures = recipe.table_iii_figures({"confusion_matrix": cm.tolist(), "accuracy": 0.5}, classes)
        if classes == 2:
            assert np.isclose(figures["sensitivity"], recall_score(y, p, pos_label=1))
            assert np.isclose(figures["specificity"], recall_score(y, p, pos_label=0))
            assert np.isclose(figures["f1"], f1_score(y, p, pos_label=1))
        else:
            assert np.isclose(figures["sensitivity"], recall_score(y, p, average="macro"))
            assert np.isclose(figures["f1"], f1_score(y, p, average="macro"))
            spec = [recall_score(y != k, p != k) for k in range(classes)]
            assert np.isclose(figures["specificity"], np.mean(spec))


def test_bad_models_argument_exits_2(capsys):
    assert run_recipe("quadsnet", ["--models", "quadsnet", "quadsnet"]) == 2
    assert "kerasimb: error: argument --models: a model is named twice" in capsys.readouterr().err
    assert run_recipe("quadsnet", ["--models", "lenet"]) == 2
    assert "argument --models: invalid choice: 'lenet'" in capsys.readouterr().err


@pytest.mark.slow
def test_recipe_end_to_end_on_digits(tmp_path):
    out = tmp_path / "run"
    assert run_recipe("quadsnet", ["--models", "quadsnet", "quadsnet-ce", "--epochs", "1", "--filters",
                        "2", "2", "2", "2", "--no-progress", "--output", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "### Table II: trainable parameters" in report
    assert "| QuadSNet + weighted margin loss |" in report and "| QuadSNet + cross-entropy |" in report
    assert "5,235,944" in report
    # Table II counted the paper's way (1000-class ImageNet models) beside the paper's figures.
    assert "| MN | MobileNet | 4,253,864 | 4,253,864 (4,231,976) | not run |" in report
    assert "equal the paper's figures exactly for DenseNet121, InceptionV3, MobileNet, " \
        "ResNet50, VGG16, Xception. So" in report
    # Fig. 2: the training curves, linked.
    assert "![Fig. 2](fig2_training_curves.png)" in report
    assert (out / "fig2_training_curves.png").read_bytes()[:4] == b"\x89PNG"
    # The paper's Table III beside ours: QN is QuadSNet with the weighted margin loss.
    assert "## The paper's figures beside ours" in report
    assert ("| QN | method=QuadSNet + weighted margin loss | Accuracy | 0.9800 |") in report
    assert "| QN | method=QuadSNet + weighted margin loss | F_1 Score | 0.9450 |" in report
    assert "could not be retrieved" not in report


def test_recalibrate_bn_flag_adds_the_callback():
    from kerasimb.callbacks import RecalibrateBatchNorm
    from kerasimb.data import load_dataset

    parser = recipe_parser("quadsnet")
    dataset = load_dataset("digits-lt", image_size=16)
    assert flags.recalibration_callbacks(parser.parse_args([]), dataset) == []
    for argv, when in ((["--recalibrate-bn"], "train_end"),
                       (["--recalibrate-bn", "epoch_end"], "epoch_end")):
        (callback,) = flags.recalibration_callbacks(parser.parse_args(argv), dataset)
        assert isinstance(callback, RecalibrateBatchNorm) and callback.when == when
        assert callback.data is dataset.train[0] and callback.batch_size == 32
    with pytest.raises(UsageError, match="--recalibrate-bn: invalid choice"):
        parser.parse_args(["--recalibrate-bn", "always"])


@pytest.mark.slow
def test_recipe_end_to_end_with_recalibration(tmp_path):
    out = tmp_path / "run"
    assert run_recipe("quadsnet", ["--models", "quadsnet", "--epochs", "1", "--filters", "2", "2", "2", "2",
                        "--image-size", "16", "--recalibrate-bn", "--no-progress",
                        "--output", str(out)]) == 0
    assert "recomputed from the training images (train_end" in (out / "report.md").read_text()
