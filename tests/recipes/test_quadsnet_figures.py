"""QuadSNet recipe: Table II (parameters counted the paper's way, against its printed figures)
and Fig. 2 (training curves: the plotted series against numpy means of the stored histories)."""

import glob
import os

import numpy as np
import pytest

from kerasimb import runs
from kerasimb.recipes import quadsnet as recipe

# Table II of Ali, Ali and Hussain (IJACSA 2021), "#Trainable parameters", typed from the paper.
PRINTED = {"densenet121": 8062504, "inceptionv3": 23851784, "mobilenet": 4253864,
           "resnet50": 25636712, "vgg16": 138357544, "xception": 22910480}


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PAPER = glob.glob(os.path.join(os.environ.get("KERASIMB_PAPERS", os.path.join(
    os.path.dirname(os.path.dirname(ROOT)), "shared", "papers")), "004_*.txt")) or glob.glob(
    "/work/shared/papers/004_*.txt")


@pytest.mark.skipif(not PAPER, reason="the paper's text is not here")
def test_recipes_table_ii_is_the_papers():
    with open(PAPER[0], encoding="utf-8") as f:
        rows = {line.split("\t")[1]: line.split("\t")[2] for line in f.read().splitlines()
                if line.count("\t") == 2 and line.split("\t")[0] in recipe.PAPER_ROWS}
    assert {name: int(figure.replace(",", "")) for name, figure in rows.items()} == {
        recipe.DISPLAY[n].split(" +")[0]: v for n, v in recipe.PAPER_TABLE_II.items()}
    assert PRINTED == {n: v for n, v in recipe.PAPER_TABLE_II.items() if n != "quadsnet"}


def test_mobilenet_v1_total_equals_the_papers_figure():
    counts = recipe.imagenet_parameters("mobilenet")
    assert counts["total"] == PRINTED["mobilenet"]
    assert counts["trainable"] < counts["total"]  # the paper's figure counts BN statistics too


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(PRINTED) - {"mobilenet"}))
def test_every_keras_applications_total_equals_the_papers_figure(name):
    assert recipe.imagenet_parameters(name)["total"] == PRINTED[name]


def test_unknown_architecture_is_refused():
    with pytest.raises(ValueError, match="argument `name`.*Received: name='lenet'"):
        recipe.imagenet_parameters("lenet")


def by_hand(filters, channels, hidden, classes):
    """QuadSNet's weights from the paper's description: per stream 4 blocks of a convolution
    (3x3 / 5x5, plain or depthwise-separable, with bias) and BatchNorm (gamma, beta trained;
    moving mean and variance not), then Dense(hidden) and Dense(classes) on 4 * filters[-1]."""
    trainable = fixed = 0
    for k, separable in ((3, False), (5, False), (3, True), (5, True)):
        c = channels
        for f in filters:
            trainable += (k * k * c + c * f + f if separable else k * k * c * f + f) + 2 * f
            fixed += 2 * f
            c = f
    trainable += 4 * filters[-1] * hidden + hidden + hidden * classes + classes
    return {"total": trainable + fixed, "trainable": trainable}


def test_quadsnet_count_matches_the_architecture_by_hand():
    assert recipe.quadsnet_parameters((3, 4, 5, 6)) == by_hand((3, 4, 5, 6), 3, 256, 2)
    assert recipe.quadsnet_parameters((56, 112, 224, 448)) == by_hand((56, 112, 224, 448), 3,
                                                                       256, 2)


def test_table_ii_lists_the_papers_figures_ours_and_the_gap():
    imagenet = {"mobilenet": {"total": 4253864, "trainable": 4231976},
                "resnet50": {"total": 25636713, "trainable": 25583592}}  # one off, on purpose
    quadsnet = {"total": 5237432, "trainable": 5230712}
    lines = recipe.table_ii({"quadsnet": 123, "mobilenetv2": 456}, imagenet, quadsnet,
                            (56, 112, 224, 448))
    text = "\n".join(lines)
    assert "| MN | MobileNet | 4,253,864 | 4,253,864 (4,231,976) | not run |" in lines
    assert "| RN | ResNet50 | 25,636,712 | 25,636,713 (25,583,592) | not run |" in lines
    assert "| VG | VGG16 | 138,357,544 |  | not run |" in lines  # not counted
    assert "| QN | QuadSNet + weighted margin loss | 5,235,944 | 5,237,432 (5,230,712) | 123 |" \
        in lines
    assert "|  | MobileNetV2 |  |  | 456 |" in lines  # not in the paper's table
    assert "equal the paper's figures exactly for MobileNet; they differ for ResNet50 (+1). " \
        "So the paper's" in text
    # 5,237,432 - 5,235,944 = +1,488 (+0.03%), 5,230,712 - 5,235,944 = -5,232 (-0.10%)
    assert "5,237,432 parameters in all (+1,488, +0.03%" in text
    assert "5,230,712 trainable (-5,232, -0.10%)" in text


HISTORIES = {
    "QuadSNet + weighted margin loss": [
        {"loss": [0.9, 0.5], "val_loss": [1.0, 0.8], "accuracy": [0.5, 0.7],
         "val_accuracy": [0.4, 0.6]},
        {"loss": [0.7, 0.3], "val_loss": [1.2, 0.6], "accuracy": [0.6, 0.9],
         "val_accuracy": [0.5, 0.55]},
    ],
    "MobileNet": [{"loss": [2.0, 1.0], "val_loss": [2.5, 1.5], "accuracy": [0.1, 0.3],
                   "val_accuracy": [0.2, 0.25]},
                  {"loss": [1.0, 0.8], "val_loss": [3.0, 1.0], "accuracy": [0.3, 0.5],
                   "val_accuracy": [0.1, 0.45]}],
}


def test_fig2_plots_the_mean_of_the_stored_histories(tmp_path):
    records = [{"method": label, "seed": seed, "report": {}, "history": history}
               for label, histories in HISTORIES.items()
               for seed, history in enumerate(histories)]
    records.append({"method": "MobileNet", "seed": 2, "report": {}, "history": {
        "loss": [float("nan")]}, "diverged": {"epoch": 1}})  # left out
    result = runs.ComparisonResult({"name": "toy", "class_names": ["a", "b"],
                                    "class_counts": [9, 1]}, {}, records)
    figure = recipe.training_curves(result, tmp_path / recipe.FIG2)
    assert (tmp_path / recipe.FIG2).read_bytes()[:4] == b"\x89PNG"
    assert [axis.get_title() for axis in figure.axes] == ["accuracy", "loss"]
    for axis in figure.axes:
        lines = {line.get_label(): line.get_ydata() for line in axis.lines}
        for label, histories in HISTORIES.items():
            for key, kind in ((axis.get_title(), "training"),
                              (f"val_{axis.get_title()}", "validation")):
                expected = np.mean([h[key] for h in histories], axis=0)
                np.testing.assert_allclose(lines[f"{label}, {kind}"], expected)
    empty = runs.ComparisonResult({"name": "toy", "class_names": ["a"], "class_counts": [1]},
                                  {}, [{"method": "ce", "seed": 0, "report": {}, "history": {}}])
    assert recipe.training_curves(empty, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
