"""`runs.run_fingerprint`: every setting a saved run of `compare(output_dir=)` depends on changes
the fingerprint, so that a folder made with any other setting is refused, not resumed.

The list of settings is written out here (not read from `kerasimb.runs.compare`), so dropping
any of them from the fingerprint fails the test of that setting.
"""

import copy

import numpy as np
import pytest

from kerasimb.runs import RunStore, run_fingerprint

METHODS = {
    "ce": {"class": "CrossEntropy", "params": {}, "description": "instance sampling + ce"},
    "reweight": {"class": "Reweight", "params": {"weighting": "inverse", "beta": 0.9999},
                 "description": "instance sampling + class-weighted cross-entropy"},
}
SETTINGS = {
    "methods": METHODS,
    "backbone": "small_cnn",
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 0.001,
    "optimizer": "Adam",
    "seeds": [0, 1],
    "evaluated_on": "test",
    "callbacks": [],
    "select_by": None,
    "mixed_precision": "float32",
    "distribute": "none",
    "jit_compile": "auto",
    "weights": None,
    "augment": None,
    "freeze_backbone": None,
    "started": "2025-01-01T00:00:00",
    "versions": {"kerasimb": "0.1.0", "tensorflow": "2.21.0"},
}
DATASET = {"name": "toy", "class_names": ["a", "b"], "class_counts": [8, 2], "sizes": [10, 4, 4],
           "sha256": "0" * 64}

# Every setting of the comparison that a run depends on, and another value of it.
CHANGES = {
    "backbone": "resnet18",
    "epochs": 3,
    "batch_size": 16,
    "learning_rate": 0.01,
    "optimizer": "SGD",
    "callbacks": ["FeatureSnapshot"],
    "select_by": "mcc",
    "mixed_precision": "mixed_float16",
    "distribute": "MirroredStrategy(2 replicas)",
    "jit_compile": False,
    "weights": "imagenet",
    "augment": "flip",
    "freeze_backbone": 2,
}


def changed(key, value):
    settings = copy.deepcopy(SETTINGS)
    settings[key] = value
    return settings


def assert_refused(tmp_path, saved, current, what):
    """A folder whose run was made with fingerprint `saved` refuses `current`, naming `what`."""
    store = RunStore(tmp_path)
    store.save("ce", 0, saved, {"method": "ce", "seed": 0}, np.eye(2))
    assert store.load("ce", 0, saved) is not None  # the same settings resume
    with pytest.raises(ValueError, match=rf"made with other settings \(.*{what}"):
        store.load("ce", 0, current)


@pytest.mark.parametrize("key", sorted(CHANGES))
def test_every_setting_changes_the_fingerprint(tmp_path, key):
    before = run_fingerprint(SETTINGS, DATASET, "ce", 0)
    after = run_fingerprint(changed(key, CHANGES[key]), DATASET, "ce", 0)
    assert after != before, f"`{key}` is not part of the run fingerprint"
    assert after[key] == CHANGES[key]
    # both ways: a folder made with the old value refuses the new one, and the reverse
    assert_refused(tmp_path / "old", before, after, key)
    assert_refused(tmp_path / "new", after, before, key)


def test_dataset_method_and_seed_change_the_fingerprint(tmp_path):
    before = run_fingerprint(SETTINGS, DATASET, "ce", 0)
    other_data = {**DATASET, "sha256": "1" * 64}  # one pixel differs
    assert run_fingerprint(SETTINGS, other_data, "ce", 0) != before
    assert_refused(tmp_path / "data", before, run_fingerprint(SETTINGS, other_data, "ce", 0),
                   "dataset.sha256")
    assert run_fingerprint(SETTINGS, DATASET, "ce", 1) != before
    assert run_fingerprint(SETTINGS, DATASET, "reweight", 0) != before
    params = changed("methods", copy.deepcopy(METHODS))
    params["methods"]["ce"]["params"] = {"augment": True}
    assert_refused(tmp_path / "params", before, run_fingerprint(params, DATASET, "ce", 0),
                   "method.params")
    cls = changed("methods", copy.deepcopy(METHODS))
    cls["methods"]["ce"]["class"] = "Focal"
    assert_refused(tmp_path / "class", before, run_fingerprint(cls, DATASET, "ce", 0),
                   "method.class")


def test_settings_outside_the_fingerprint_keep_resuming():
    # when it started, with which versions, and which other seeds and methods ran beside it
    # do not change what a run is
    before = run_fingerprint(SETTINGS, DATASET, "ce", 0)
    for key, value in (("started", "2030-06-01T12:00:00"), ("versions", {"kerasimb": "9.9.9"}),
                       ("seeds", [0, 1, 2, 3]), ("methods", {"ce": METHODS["ce"]})):
        assert run_fingerprint(changed(key, value), DATASET, "ce", 0) == before, key


def test_optional_settings_are_absent_when_not_set():
    # a folder made before `weights`, `augment` and `freeze_backbone` existed keeps resuming
    fingerprint = run_fingerprint(SETTINGS, DATASET, "ce", 0)
    assert not {"weights", "augment", "freeze_backbone"} & set(fingerprint)
    old = {key: value for key, value in SETTINGS.items()
           if key not in ("weights", "augment", "freeze_backbone")}
    assert run_fingerprint(old, DATASET, "ce", 0) == fingerprint
    assert fingerprint["seed"] == 0 and fingerprint["dataset"] == DATASET
    assert fingerprint["method"] == METHODS["ce"]
