import numpy as np
import pytest

from kerasimb import methods
from kerasimb.callbacks import AlphaSchedule
from kerasimb.data import ImageDataset
from kerasimb.methods.aduni import AduC, PaCoBatch, UnifiedContrastiveMethod
from kerasimb.models import AdUni, model_fn


def tiny_dataset():
    rng = np.random.default_rng(0)

    def split(per_class):
        y = np.repeat(np.arange(3), per_class)
        return rng.integers(0, 255, (len(y), 8, 8, 1)).astype(np.uint8), y

    return ImageDataset(split([12, 5, 2]), split([3, 3, 3]), split([4, 4, 4]),
                        ["a", "b", "c"], name="tiny")


def test_one_name_per_method_and_the_old_names_are_aliases():
    names = methods.names()
    assert {"aduni", "aduni-fixed-alpha", "paco", "paco-batch", "paco-aduni"} <= set(names)
    assert "aduc" not in names and "paco-aduc" not in names  # aliases are not listed
    assert methods.METHODS.aliases("aduni") == ["aduc"]
    assert methods.METHODS.aliases("paco-aduni") == ["paco-aduc"]
    assert methods.METHODS.aliases("paco") == []
    assert methods.METHODS.aliases("aduni-fixed-alpha") == []


def test_an_alias_is_the_same_class_not_a_subclass():
    assert type(methods.get("aduc")) is type(methods.get("aduni")) is AduC
    assert type(methods.get("paco-aduc")) is type(methods.get("paco-aduni"))
    assert methods.METHODS.get("aduc") is methods.METHODS.get("aduni")
    assert issubclass(type(methods.get("aduni-fixed-alpha")), UnifiedContrastiveMethod)
    assert methods.get("aduc").params == methods.get("aduni").params
    # The name of a method got through its alias is the canonical name.
    assert methods.get("aduc").name == "aduni" and methods.get("paco-aduc").name == "paco-aduni"
    # No other registered method is a subclass of these (each AdUni variant trains once).
    classes = [methods.METHODS.get(n) for n in methods.names()]
    assert sum(issubclass(c, AduC) for c in classes) == 1
    assert sum(issubclass(c, PaCoBatch) for c in classes) == 1  # `paco-batch` alone


def test_the_methods_keep_their_settings():
    aduni, fixed, paco = (methods.get(n) for n in ("aduni", "aduni-fixed-alpha", "paco"))
    assert (aduni.params["schedule"], aduni.params["alpha_max"], aduni.params["alpha_min"]) == (
        "stretched", 1.0, 0.01)
    assert (fixed.params["schedule"], fixed.params["alpha"]) == (None, 1.0)
    assert (paco.params["schedule"], paco.params["alpha"], paco.params["queue_size"]) == (
        None, 0.02, 1024)


def test_fixed_alpha_is_aduc_without_its_schedule():
    fixed = methods.get("aduni-fixed-alpha")
    assert fixed.params == methods.get("aduni", schedule=None, alpha=1.0).params
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


def test_errors_name_the_canonical_method():
    with pytest.raises(ValueError, match="Invalid argument received for method `paco-aduni`"):
        methods.get("paco-aduc", queue=128)
    with pytest.raises(ValueError, match="Invalid value received for argument `alpha`"):
        methods.get("aduni-fixed-alpha", alpha=-1.0)
