"""Smoke test of the recipe kerasimb.recipes.balanced_mixup: tiny run end to end, report and plots written."""


import pytest
from recipe_runner import load_recipe, recipe_parser, run_recipe



def _run(argv):
    return run_recipe("balanced_mixup", argv)


def _module():
    return load_recipe("balanced_mixup")


def test_rows_and_sampler_section(tmp_path):
    from kerasimb import data, methods

    module = _module()
    args = recipe_parser("balanced_mixup").parse_args(["--alphas", "0.1", "0.3"])
    rows = module.table_methods(args)
    labels = [row for row, _ in rows]
    assert labels[:3] == ["instance sampling", "class sampling", "sqrt sampling"]
    assert labels[-2:] == ["Bal-Mxp α=0.1", "Bal-Mxp α=0.3"]
    assert ("focal loss" in labels) == ("focal" in methods.names())
    import numpy as np

    y = np.repeat([0, 1, 2], [30, 8, 2])
    x = np.zeros((40, 8, 8, 1), "uint8")
    toy = data.ImageDataset((x, y), (x[:3], y[:3]), (x[:3], y[:3]), ["a", "b", "c"])
    lines = module.sampler_section(toy, [0.1, 0.3], str(tmp_path), batches=3)
    assert any(line.startswith("| Bal-Mxp α=0.3 |") for line in lines)
    assert (tmp_path / "beta_densities.png").exists()


@pytest.mark.slow
def test_tiny_run_writes_report(tmp_path):
    out = tmp_path / "bmx"
    code = _run(["--dataset", "digits-lt", "--epochs", "1", "--seeds", "0", "--alphas", "0.2",
                 "--no-loss-rows", "--no-progress", "--batch-size", "64", "--output", str(out),
                 "--recalibrate-bn", "epoch_end", "--tta", "flip"])
    assert code == 0
    report = (out / "report.md").read_text()
    assert "test predictions averaged over each image and its horizontal mirror" in report
    assert "no test-time augmentation" not in report and "no flip averaging" not in report
    import json

    settings = json.loads((out / "small_cnn" / "metrics.json").read_text())["settings"]
    assert settings["test_time_flip"] is True
    for text in ("BatchNorm moving statistics recomputed", "instance sampling", "class sampling", "sqrt sampling", "Bal-Mxp α=0.2",
                 "balanced_accuracy", "Beta(α, 1)", "paper's figures beside ours"):
        assert text in report, text
    # The paper's Table 1/3 beside ours (digits-lt is nominal: Table 3); the lone α = 0.2 run
    # stands beside the paper's α = 0.2 row, not its α = 0.1 one.
    assert "## The paper's figures beside ours" in report
    assert "**Table 3 of Galdran et al., MICCAI 2021, MobileNet V2 columns**" in report
    assert "| Instance-sampling | method=ce on small_cnn | MCC | 0.9049 (90.49) |" in report
    assert ("| Bal-Mxp α=0.2 | method=balanced-mixup(alpha=0.2) on small_cnn | MCC | "
            "0.9054 (90.54) |") in report
    assert "| Bal-Mxp α=0.1 |" not in report and "could not be retrieved" not in report
    assert (out / "beta_densities.png").exists()
    assert (out / "class_distribution_by_sampler.png").exists()
    assert (out / "small_cnn" / "metrics.json").exists()
    # calibration of every method, linking the reliability diagram the comparison wrote
    assert "## small_cnn: calibration" in report and "| method | ece | classwise_ece |" in report
    assert "(small_cnn/reliability.png)" in report and (out / "small_cnn/reliability.png").exists()


def test_recalibrate_bn_flag():
    import numpy as np

    from kerasimb import data
    from kerasimb.callbacks import RecalibrateBatchNorm
    from kerasimb.recipes import flags

    parser = recipe_parser("balanced_mixup")
    x = np.zeros((6, 8, 8, 1), "uint8")
    y = np.array([0, 0, 0, 0, 1, 1])
    toy = data.ImageDataset((x, y), (x, y), (x, y), ["a", "b"])
    assert flags.recalibration_callbacks(parser.parse_args([]), toy) == []
    for argv, when in ((["--recalibrate-bn"], "train_end"),
                       (["--recalibrate-bn", "epoch_end"], "epoch_end")):
        (callback,) = flags.recalibration_callbacks(parser.parse_args(argv), toy)
        assert isinstance(callback, RecalibrateBatchNorm) and callback.when == when
        assert callback.data is x


def test_bad_arguments_exit_2(tmp_path):
    for argv in (["--alphas", "0"], ["--select-by", "loss"], ["--recalibrate-bn", "always"],
                 ["--tta", "both"]):
        assert _run([*argv, "--output", str(tmp_path), "--no-progress"]) == 2


class _Stop(Exception):
    """Raised by the stand-in `runs.compare` once it has seen its arguments."""


def test_tta_flag_reaches_compare_and_the_report_text(monkeypatch, tmp_path):
    import numpy as np

    from kerasimb import data

    module = _module()
    parser = recipe_parser("balanced_mixup")
    assert parser.parse_args([]).tta is None
    assert module.resolve_tta(parser.parse_args([]), "medmnist:dermamnist") == "flip"
    assert module.resolve_tta(parser.parse_args([]), "digits-lt") == "none"
    assert module.resolve_tta(parser.parse_args(["--tta", "flip"]), "digits-lt") == "flip"
    assert module.resolve_tta(parser.parse_args(["--tta", "none"]), "pathmnist") == "none"
    assert "horizontal mirror" in module.tta_text("flip")
    assert module.tta_text("none").startswith("no test-time augmentation")
    seen = []

    def fake_compare(dataset, **kwargs):
        seen.append(kwargs)
        raise _Stop

    monkeypatch.setattr(module.runs, "compare", fake_compare)
    y = np.repeat([0, 1], [6, 2])
    x = np.zeros((8, 8, 8, 1), "uint8")
    toy = data.ImageDataset((x, y), (x, y), (x, y), ["a", "b"], name="toy")
    for argv, expected in (([], True), (["--tta", "none"], False), (["--tta", "flip"], True)):
        args = parser.parse_args(["--no-loss-rows", "--alphas", "0.1", *argv])
        with pytest.raises(_Stop):
            module.run(args, toy, str(tmp_path))
        assert seen[-1]["test_time_flip"] is expected, argv
