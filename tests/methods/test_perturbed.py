import json

import numpy as np
import pytest
from scipy.special import softmax

from kerasimb import methods, runs
from kerasimb.cli.args import UsageError, method_names
from kerasimb.cli.main import main
from kerasimb.data import ImageDataset
from kerasimb.inference import PerturbedPredictor
from kerasimb.methods.perturbed import Perturbed
from kerasimb.models import model_fn


def tiny_dataset(counts=(12, 5, 2), size=8, seed=0):
    rng = np.random.default_rng(seed)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        x = rng.integers(0, 60, (len(y), size, size, 1)).astype(np.uint8)
        for i, c in enumerate(y):
            x[i, (c % 2) * (size // 2):(c % 2 + 1) * (size // 2), (c // 2) * (size // 2):, 0] += 180
        return x, y

    return ImageDataset(split(list(counts)), split([3] * 3), split([4] * 3), ["a", "b", "c"],
                        name="tiny")


MODEL = model_fn("small_cnn", width=4, depth=2)


def test_get_parses_modifier_and_routes_params():
    m = methods.get("reweight+perturb", weighting="sqrt_inverse", epsilon=0.002, temperature=10)
    assert isinstance(m, Perturbed) and m.name == "reweight+perturb"
    assert m.base.params == {"weighting": "sqrt_inverse", "beta": 0.9999}
    assert m.params["epsilon"] == 0.002 and m.params["temperature"] == 10.0
    assert m.fit_kwargs(tiny_dataset()) == m.base.fit_kwargs(tiny_dataset())
    assert "ce+perturb" not in methods.names()  # modifiers do not multiply the default list


def test_errors():
    with pytest.raises(ValueError, match="Received: epsilon=-1.0"):
        methods.get("ce+perturb", epsilon=-1.0)
    with pytest.raises(ValueError, match="Invalid argument received for method `ce`"):
        methods.get("ce+perturb", weighting="inverse")
    with pytest.raises(ValueError, match="one `\\+perturb` at most"):
        methods.get("ce+perturb+perturb")
    with pytest.raises(ValueError, match="registered method name"):
        methods.get("nope+perturb")
    with pytest.raises(ValueError, match="Received: perturb_loss='l1'"):
        methods.get("ce+perturb", perturb_loss="l1")


def test_train_selects_epsilon_and_predicts_through_the_predictor():
    dataset = tiny_dataset()
    method = methods.get("ce+perturb", epsilon_grid=[0.0, 0.01, 0.05])
    model, _ = method.train(dataset, MODEL, epochs=1, batch_size=8, seed=0)
    record = method.fitted[model]
    assert set(record["scores"]) == {0.0, 0.01, 0.05}
    assert record["scores"][record["epsilon"]] == max(record["scores"].values())
    x_test = dataset.test[0]
    probs = method.predict(model, x_test)
    x = x_test.astype("float32") / 255.0
    expected = PerturbedPredictor(model, dataset.class_counts, epsilon=record["epsilon"]).predict(x)
    np.testing.assert_allclose(probs, softmax(expected, axis=-1), atol=1e-5)
    # epsilon = 0 is the wrapped method's own prediction, on the same model
    fixed = methods.get("ce+perturb", epsilon=0.0)
    fixed.prepare(model, dataset)
    np.testing.assert_allclose(fixed.predict(model, x_test),
                               methods.get("ce").predict(model, x_test), atol=1e-6)
    with pytest.raises(ValueError, match="prepare"):
        methods.get("ce+perturb").predict(model, x_test)


def test_modifier_names_resolve_without_training(capsys):
    from kerasimb.runs.compare import _resolve_methods

    labels = [label for label, _ in _resolve_methods(["ce", "ce+perturb"])]
    assert labels == ["ce", "ce+perturb"]
    assert method_names(["reweight+perturb"]) == ["reweight+perturb"]
    with pytest.raises(UsageError, match=r"unknown method\(s\) \['reweight\+nope'\]"):
        method_names(["reweight+nope"])
    assert main(["compare", "--methods", "ce+nope"]) == 2
    assert "+perturb" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_and_cli_accept_modifiers(tmp_path, capsys):
    result = runs.compare(tiny_dataset(), methods=["ce", "ce+perturb"], backbone=MODEL,
                                epochs=1, batch_size=8, progress=False)
    assert result.methods == ["ce", "ce+perturb"]
    output = tmp_path / "run"
    code = main(["compare", "--dataset", "digits-lt", "--image-size", "8", "--methods", "ce",
                     "ce+perturb", "--epochs", "1", "--seeds", "0", "--batch-size", "64",
                     "--output", str(output), "--no-progress"])
    assert code == 0
    assert "| ce+perturb |" in capsys.readouterr().out
    settings = json.loads((output / "metrics.json").read_text())["settings"]
    assert list(settings["methods"]) == ["ce", "ce+perturb"]
