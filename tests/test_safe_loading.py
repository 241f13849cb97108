"""Loading never executes code from a data or model file: no pickle, no eval, numpy archives
read with `allow_pickle=False`, Keras files with `safe_mode` left on."""

import os
import re

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("kerasimb", "recipes", "benchmarks")

FORBIDDEN = {
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "pickle.load": re.compile(r"\bpickle\.loads?\b|\bcPickle\b|\bdill\b|\bjoblib\.load\b"),
    "eval(": re.compile(r"(?<![\w.])eval\s*\("),
    "exec(": re.compile(r"(?<![\w.])exec\s*\("),
    "safe_mode=False": re.compile(r"safe_mode\s*=\s*False"),
    "yaml.load": re.compile(r"\byaml\.(unsafe_)?load\s*\("),
    "enable_unsafe_deserialization": re.compile(r"enable_unsafe_deserialization"),
}


def _sources():
    for folder in FOLDERS:
        for root, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(root, name)
                    with open(path, encoding="utf-8") as f:
                        yield os.path.relpath(path, ROOT), f.read()


def test_sources_found():
    assert any(path.startswith("kerasimb") for path, _ in _sources())


@pytest.mark.parametrize("what", sorted(FORBIDDEN))
def test_no_code_executing_loaders(what):
    hits = [f"{path}:{text[:m.start()].count(chr(10)) + 1}"
            for path, text in _sources() for m in FORBIDDEN[what].finditer(text)]
    assert not hits, f"{what} found in {hits}"


def test_every_np_load_refuses_pickles():
    """Each `np.load(` call passes `allow_pickle=False` explicitly."""
    bad = []
    for path, text in _sources():
        for m in re.finditer(r"\bnp\.load\(", text):
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(text)):  # the call's closing parenthesis
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            if "allow_pickle=False" not in text[m.start():end]:
                bad.append(f"{path}:{text[:m.start()].count(chr(10)) + 1}")
    assert not bad, f"np.load without allow_pickle=False: {bad}"


def test_results_and_backups_round_trip_without_pickle(tmp_path):
    from kerasimb.utils import write_npz

    path = write_npz(tmp_path / "a.npz", probabilities=np.eye(2, dtype="float32"))
    with np.load(path, allow_pickle=False) as archive:
        np.testing.assert_array_equal(archive["probabilities"], np.eye(2))
    with pytest.raises(TypeError, match="object"):
        write_npz(tmp_path / "b.npz", names=np.array(["a", None], dtype=object))
    assert not (tmp_path / "b.npz").exists()
