"""Method.search_space / Method.hyperparameters: Keras Tuner spaces declared from data."""

import keras_tuner
import pytest

from kerasimb import methods
from kerasimb.methods import search_space
from kerasimb.methods.registry import Method

MODIFIED = ["ce+perturb", "focal+perturb"]


@pytest.mark.parametrize("name", methods.names() + MODIFIED)
def test_fresh_hp_gives_the_method_defaults(name):
    method = methods.get(name)
    hp = keras_tuner.HyperParameters()
    params = method.hyperparameters(hp)
    assert set(params) == set(method.params)
    for key, value in method.params.items():
        if value is not None:  # None means "the method's own default" (e.g. the paper's lambda)
            assert params[key] == value, (name, key)
    methods.get(name, **params)  # the drawn values are valid for the method
    assert set(hp.values) == {f"{name}.{p}" for p in method.search_space}


@pytest.mark.parametrize("name", methods.names() + MODIFIED)
def test_every_spec_names_a_parameter_and_is_well_formed(name):
    method = methods.get(name)
    for param, spec in method.search_space.items():
        assert param in method.defaults, (name, param)
        search_space._spec_dict(param, spec)


def test_drawn_values_reach_the_method():
    hp = keras_tuner.HyperParameters()
    focal = methods.get("focal")
    focal.hyperparameters(hp)
    hp.values["focal.gamma"] = 3.5
    assert focal.hyperparameters(hp) == {"gamma": 3.5}
    assert methods.get("focal", **focal.hyperparameters(hp)).params["gamma"] == 3.5


def test_user_values_become_the_defaults():
    hp = keras_tuner.HyperParameters()
    assert methods.get("balanced-mixup", alpha=0.3).hyperparameters(hp)["alpha"] == 0.3
    assert hp.get("balanced-mixup.alpha") == 0.3


def test_mixed_type_choice_maps_back():
    hp = keras_tuner.HyperParameters()
    method = methods.get("ce+perturb")
    assert method.hyperparameters(hp)["epsilon"] == "auto"
    hp.values["ce+perturb.epsilon"] = repr(1e-3)
    assert method.hyperparameters(hp)["epsilon"] == 1e-3


def test_none_default_uses_the_spec_default():
    hp = keras_tuner.HyperParameters()
    assert methods.get("supcon-crw").hyperparameters(hp)["metric_weight"] == 1.0
    assert methods.get("center-crw").hyperparameters(hp)["metric_weight"] == 0.001


class _Toy(Method):
    defaults = {"a": 7.0, "b": "x", "c": 3, "d": True}
    search_space = {"a": ("float", 0.0, 1.0), "b": ("choice", ["y", "z"]), "c": ("int", 1, 2),
                    "d": ("bool",)}


def test_range_widened_and_choice_extended_to_contain_the_default():
    hp = keras_tuner.HyperParameters()
    assert _Toy().hyperparameters(hp, prefix="toy") == {"a": 7.0, "b": "x", "c": 3, "d": True}
    a = hp.space[[p.name for p in hp.space].index("toy.a")]
    assert (a.min_value, a.max_value) == (0.0, 7.0)
    b = hp.space[[p.name for p in hp.space].index("toy.b")]
    assert list(b.values) == ["y", "z", "x"]


def test_inactive_conditional_returns_the_default():
    hp = keras_tuner.HyperParameters()
    hp.Choice("method", ["ce", "focal"], default="ce")
    with hp.conditional_scope("method", ["focal"]):
        assert methods.get("focal", gamma=1.5).hyperparameters(hp) == {"gamma": 1.5}


@pytest.mark.parametrize("spec", [("float", 1.0), ("float", 2.0, 1.0), ("float", 0.0, 1.0, "log"),
                                  ("choice", []), ("bogus", 1, 2), "float", {"type": "int"}])
def test_malformed_spec_raises(spec):
    with pytest.raises(ValueError, match="search space of `p`"):
        search_space.declare(keras_tuner.HyperParameters(), "p", spec, 0.5)


def test_spec_for_unknown_parameter_raises():
    class Bad(Method):
        defaults = {"a": 1.0}
        search_space = {"zzz": ("float", 0.0, 1.0)}

    with pytest.raises(ValueError, match="Expected parameters among \\['a'\\]"):
        Bad().hyperparameters(keras_tuner.HyperParameters())
