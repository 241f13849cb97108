"""`compare(augment=)` beside a method that augments its own views (AdUni, PaCo)."""
import pytest

from kerasimb import methods
from kerasimb.runs import compare
from kerasimb.runs.report import report_markdown
from test_compare import TINY_MODEL, tiny_dataset


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


def test_calibration_table_shows_a_recipes_row_names():
    from kerasimb.runs import ComparisonResult
    from kerasimb.runs.report import calibration_lines, calibration_table

    result = ComparisonResult(
        {"name": "toy", "class_names": ["a", "b"], "class_counts": [9, 1]}, {},
        [{"method": "aduni(sampling=0.0)", "seed": 0,
          "report": {"ece": 0.2, "classwise_ece": 0.1, "brier": 0.3, "nll": 0.5}}])
    named = calibration_table(result, names={"aduni(sampling=0.0)": "AdUni + up-sampling"})
    assert "| AdUni + up-sampling | 0.200 | 0.100 | 0.300 | 0.500 |" in named
    assert "aduni(sampling=0.0)" not in named
    assert "| aduni(sampling=0.0) | 0.200 |" in calibration_table(result)
    assert named in "\n".join(calibration_lines(
        result, names={"aduni(sampling=0.0)": "AdUni + up-sampling"}))
