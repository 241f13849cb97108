"""`compare(augment=)` beside a method that augments its own views (AdUni, PaCo)."""
import pytest

from kerasimb import methods
from kerasimb.runs import compare
from kerasimb.runs.report import report_markdown
from tests.runs.test_compare import TINY_MODEL, tiny_dataset


def test_augment_goes_to_single_image_methods_and_own_view_methods_keep_their_views(
        monkeypatch):
    seen = []
    original = methods.Method.train

    def spy(self, *args, **kwargs):
        seen.append((self.name, kwargs.get("augment")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(methods.Method, "train", spy)
    aduni = methods.get("aduni", projection_dim=8)
    assert aduni.own_views and not methods.get("ce").own_views
    result = compare(tiny_dataset(), ["ce", aduni], backbone=TINY_MODEL, epochs=1, seeds=[0],
                     batch_size=8, augment="flip", progress=False)
    assert sorted(seen) == [("aduni", None), ("ce", "flip")]
    assert result.settings["own_views"] == ["aduni"]
    text = report_markdown(result)
    assert ("- augmentation of the training images: random horizontal and vertical flips "
            "(`aduni`: its own two augmented views instead)") in text


def test_a_method_with_its_own_views_still_refuses_augment_when_trained_directly():
    with pytest.raises(ValueError, match="augment"):
        methods.get("aduni").train_dataset(tiny_dataset(), 8, 0, augment="flip")
