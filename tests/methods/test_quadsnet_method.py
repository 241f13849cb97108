"""The `quadsnet-margin` method and `kerasimb compare --methods ce quadsnet-margin --backbone quadsnet`."""

import numpy as np
import pytest

from kerasimb import data, methods, models
from kerasimb.cli.main import main
from kerasimb.losses import MarginLoss
from kerasimb.methods.quadsnet import QuadSNetMargin
from kerasimb.models import QuadSNet


def tiny_dataset():
    ds = data.load_dataset("digits-lt")
    return ds


def test_registered_with_paper_defaults():
    method = methods.get("quadsnet-margin")
    assert isinstance(method, QuadSNetMargin)
    assert method.params["model"] == "backbone"
    assert (method.params["m_plus"], method.params["m_minus"], method.params["down_weight"]) == (0.9, 0.1, 0.5)


def test_loss_uses_inverse_frequency_weights():
    ds = tiny_dataset()
    loss = methods.get("quadsnet-margin").loss(ds)
    assert isinstance(loss, MarginLoss)
    counts = np.asarray(ds.class_counts, dtype=float)
    expected = (1 / counts) * len(counts) / (1 / counts).sum()
    np.testing.assert_allclose(loss.effective_class_weights, expected, rtol=1e-9)
    assert methods.get("quadsnet-margin", weighting="none").loss(ds).effective_class_weights is None


def test_model_choice():
    ds = tiny_dataset()
    small = models.model_fn("small_cnn", width=4, depth=2)
    assert methods.get("quadsnet-margin").build_model(small, ds).name == "small_cnn"
    forced = methods.get("quadsnet-margin", model="quadsnet", filters=[2, 2, 2, 2], classifier_units=[])
    assert isinstance(forced.build_model(small, ds), QuadSNet)


def test_bad_params():
    with pytest.raises(ValueError, match="model"):
        methods.get("quadsnet-margin", model="resnet")
    with pytest.raises(ValueError, match="score"):
        methods.get("quadsnet-margin", score="tanh")
    with pytest.raises(ValueError, match="m_plus"):
        methods.get("quadsnet-margin", m_plus=2.0)


@pytest.mark.slow
def test_cli_compare_ce_against_quadsnet_margin_on_quadsnet(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["compare", "--methods", "ce", "quadsnet-margin", "--backbone", "quadsnet",
                     "--epochs", "1", "--seeds", "0", "--no-progress", "--output", "out"]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "model: `quadsnet`" in report
    assert "| quadsnet-margin |" in report and "| ce |" in report
