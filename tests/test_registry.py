"""`kerasimb.registry.Registry`: names, aliases, clashes, patterns and error messages."""

import os
import subprocess
import sys

import pytest

from kerasimb.registry import Registry


def squeeze(name):
    return name.lower().replace("_", "").replace("-", "")


class Thing:
    def __init__(self, label):
        self.label = label

    def __repr__(self):
        return f"Thing({self.label!r})"


@pytest.fixture
def registry():
    reg = Registry("widget")
    reg.register("b-two", Thing("two"), description="the second")
    reg.register("a-one", Thing("one"), aliases=("uno", "eins"))
    return reg


def test_get_by_name_and_alias_returns_the_same_object(registry):
    one = registry.get("a-one")
    assert one.label == "one"
    assert registry.get("uno") is one and registry.get("eins") is one
    assert registry.canonical("uno") == "a-one" and registry.canonical("a-one") == "a-one"


def test_names_are_sorted_canonical_names_only(registry):
    assert registry.names() == ["a-one", "b-two"]
    assert list(registry) == ["a-one", "b-two"]
    assert "uno" not in registry.names()
    assert registry.aliases("a-one") == ["eins", "uno"]
    assert registry.aliases("uno") == ["eins", "uno"]
    assert registry.aliases("b-two") == []


def test_contains(registry):
    assert "a-one" in registry and "uno" in registry
    assert "c-three" not in registry
    assert 3 not in registry and None not in registry


def test_list_matches_patterns_over_canonical_names(registry):
    registry.register("a-zero", Thing("zero"))
    assert registry.list() == ["a-one", "a-zero", "b-two"]
    assert registry.list("a-*") == ["a-one", "a-zero"]
    assert registry.list("?-t*") == ["b-two"]
    assert registry.list("un*") == []  # aliases are not listed
    assert registry.list("A-*") == []  # case-sensitive
    with pytest.raises(TypeError, match="Received: pattern=3"):
        registry.list(3)


def test_describe(registry):
    assert registry.describe() == [("a-one", ("eins", "uno"), None),
                                   ("b-two", (), "the second")]


def test_register_as_decorator_returns_the_object():
    reg = Registry("function")

    @reg.register("double", aliases=("twice",), description="x -> 2x")
    def double(x):
        return 2 * x

    assert double(4) == 8  # the decorator returns the function itself
    assert reg.get("twice") is double
    assert reg.describe() == [("double", ("twice",), "x -> 2x")]


def test_unknown_name_error_names_kind_value_and_registered_names(registry):
    expected = ("Invalid value received for argument `name`. Expected a registered widget name, "
                "one of ['a-one', 'b-two'] (aliases: ['eins', 'uno']). Received: name='zwei'")
    with pytest.raises(ValueError) as info:
        registry.get("zwei")
    assert str(info.value) == expected
    with pytest.raises(ValueError, match="Received: name=None"):
        registry.get(None)
    with pytest.raises(ValueError, match="Received: backbone_name='zwei'"):
        registry.get("zwei", argument="backbone_name")
    with pytest.raises(ValueError, match="Received: name='zwei'"):
        registry.canonical("zwei")
    with pytest.raises(ValueError, match="Received: name='zwei'"):
        registry.aliases("zwei")


def test_without_aliases_the_message_has_no_alias_list():
    reg = Registry("gadget")
    reg.register("x", Thing("x"))
    with pytest.raises(ValueError) as info:
        reg.get("y")
    assert "aliases" not in str(info.value)
    assert "one of ['x']" in str(info.value)


def test_taken_name_or_alias_for_another_object_is_an_error(registry):
    with pytest.raises(ValueError, match=r"widget named 'a-one' is already registered"):
        registry.register("a-one", Thing("other"))
    with pytest.raises(ValueError,
                       match=r"widget named 'uno' is already registered \(as 'a-one'\)"):
        registry.register("uno", Thing("other"))
    with pytest.raises(ValueError, match=r"argument `aliases`.*'b-two' is already registered"):
        registry.register("c-three", Thing("three"), aliases=("b-two",))
    assert registry.names() == ["a-one", "b-two"]  # nothing half-registered
    assert "c-three" not in registry


def test_one_object_has_one_canonical_name(registry):
    one = registry.get("a-one")
    with pytest.raises(ValueError, match="already registered as the widget 'a-one'.*`aliases`"):
        registry.register("z-other", one)
    with pytest.raises(ValueError, match="'uno' is an alias of the widget 'a-one', not its name"):
        registry.register("uno", one)


def test_registering_the_same_object_again_is_idempotent_and_adds_aliases(registry):
    one = registry.get("a-one")
    assert registry.register("a-one", one) is one
    registry.register("a-one", one, aliases=("un",))
    assert registry.names() == ["a-one", "b-two"]
    assert registry.aliases("a-one") == ["eins", "un", "uno"]
    registry.register("a-one", one, aliases=("uno",))  # an alias it already has
    assert registry.aliases("a-one") == ["eins", "un", "uno"]
    registry.register("b-two", registry.get("b-two"))  # keeps its description
    assert registry.describe()[1] == ("b-two", (), "the second")


def test_bad_names_and_aliases(registry):
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="argument `name`"):
            registry.register(bad, Thing("bad"))
        with pytest.raises(ValueError, match="argument `aliases`"):
            registry.register("ok", Thing("bad"), aliases=(bad,))
    with pytest.raises(ValueError, match="different from `name` and from each other"):
        registry.register("c-three", Thing("three"), aliases=("c-three",))
    with pytest.raises(ValueError, match="different from `name` and from each other"):
        registry.register("c-three", Thing("three"), aliases=("tres", "tres"))
    with pytest.raises(TypeError, match="description=3"):
        registry.register("c-three", Thing("three"), description=3)
    assert registry.names() == ["a-one", "b-two"]


def test_a_single_string_alias_is_one_alias():
    reg = Registry("widget")
    reg.register("long-name", Thing("x"), aliases="ln")
    assert reg.aliases("long-name") == ["ln"]


def test_unregister_a_name_removes_its_aliases(registry):
    registry.unregister("a-one")
    assert registry.names() == ["b-two"]
    assert "uno" not in registry and "eins" not in registry
    registry.unregister("a-one")  # twice is a no-op
    registry.unregister(None)
    registry.register("uno", Thing("new"))  # the freed names can be reused
    assert registry.get("uno").label == "new"


def test_unregister_an_alias_removes_only_that_alias(registry):
    registry.unregister("uno")
    assert "uno" not in registry
    assert registry.aliases("a-one") == ["eins"]
    assert registry.get("a-one").label == "one"


def test_normalise_applies_to_lookup_clashes_and_aliases():
    reg = Registry("model", normalise=squeeze)
    reg.register("mobilenet_v2", Thing("m"), aliases=("mnv2",))
    assert reg.get("MobileNetV2").label == "m"
    assert reg.get("MNV2") is reg.get("mobilenet-v2")
    assert reg.canonical("MOBILENETV2") == "mobilenet_v2"  # as registered
    assert reg.names() == ["mobilenet_v2"]
    with pytest.raises(ValueError, match="already registered"):
        reg.register("MobileNet-V2", Thing("other"))
    with pytest.raises(ValueError, match="different from `name`"):
        reg.register("resnet", Thing("r"), aliases=("ResNet",))
    reg.unregister("Mobile_NetV2")
    assert reg.names() == []


def test_constructor_arguments():
    with pytest.raises(ValueError, match="Received: kind=''"):
        Registry("")
    with pytest.raises(TypeError, match="Received: normalise=3"):
        Registry("x", normalise=3)
    assert repr(Registry("x")) == "Registry('x', names=[])"


def test_module_imports_no_numerical_library():
    code = ("import sys, importlib.util\n"
            "spec = importlib.util.spec_from_file_location('r', 'kerasimb/registry.py')\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "heavy = {'keras', 'tensorflow', 'numpy'} & set(sys.modules)\n"
            "print(sorted(heavy))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
