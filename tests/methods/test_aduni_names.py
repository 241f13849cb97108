import numpy as np
import pytest

from kerasimb import methods
from kerasimb.callbacks import AlphaSchedule
from kerasimb.data import ImageDataset
from kerasimb.methods.adauni import AduC, PaCoBatch, UnifiedContrastiveMethod
from kerasimb.models import AdUni, model_fn


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        return rng.integers(0, 255, (len(y), 8, 8, 1)).astype(np.uint8), y

    return ImageDataset(split([12, 5, 2]), split([3, 3, 3]), split([4, 4, 4]),
                        ["a", "b", "c"], name="tiny")


def test_issue_names_are_registered_and_old_names_kept():
    assert {"aduni", "aduni-fixed-alpha", "paco", "aduc", "paco-batch"} <= set(methods.names())
    # Aliases: same class logic, same parameters as the original names.
    assert isinstance(methods.get("aduni"), AduC)
    assert isinstance(methods.get("paco"), PaCoBatch)
    assert issubclass(type(methods.get("aduni-fixed-alpha")), UnifiedContrastiveMethod)
    assert methods.get("aduni").params == methods.get("aduc").params
    assert methods.get("paco").params == methods.get("paco-batch").params
    assert methods.get("aduni").name == "aduni" and methods.get("paco").name == "paco"
    assert methods.get("aduc").name == "aduc" and methods.get("paco-batch").name == "paco-batch"


def test_fixed_alpha_is_aduc_without_its_schedule():
    fixed = methods.get("aduni-fixed-alpha")
    assert fixed.params == methods.get("aduc", schedule=None, alpha=1.0).params
    dataset = tiny_dataset()
    assert fixed.callbacks(dataset, 5) == []
    [schedule] = methods.get("aduni").callbacks(dataset, 5)
    assert isinstance(schedule, AlphaSchedule)
    model = methods.get("aduni-fixed-alpha", alpha=0.3).build_model(
        model_fn("small_cnn", width=4, depth=1), dataset)
    assert isinstance(model, AdUni) and model.unified_loss.alpha == pytest.approx(0.3)


def test_aduni_with_the_resnet18_encoder_builds():
    dataset = tiny_dataset()
    model = methods.get("aduni").build_model(model_fn("resnet18"), dataset)
    assert isinstance(model, AdUni)
    logits = model.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0)
    assert logits.shape == (2, 3)


def test_errors_name_the_alias():
    with pytest.raises(ValueError, match="Invalid argument received for method `paco`"):
        methods.get("paco", queue=128)
    with pytest.raises(ValueError, match="Invalid value received for argument `alpha`"):
        methods.get("aduni-fixed-alpha", alpha=-1.0)
