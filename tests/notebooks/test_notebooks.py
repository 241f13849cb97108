"""The notebooks in notebooks/: stored executed without errors (fast), and re-executed from a
fresh kernel with nbclient (slow), checking that their plots render."""

import glob
import os
import re

import pytest

NOTEBOOKS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "notebooks")
NOTEBOOKS = sorted(glob.glob(os.path.join(NOTEBOOKS_DIR, "*.ipynb")))

nbformat = pytest.importorskip("nbformat")


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def _pngs(nb):
    return sum("image/png" in out.get("data", {}) for c in _code_cells(nb)
               for out in c.get("outputs", []))


def _needs_shared_data(nb):
    return any("shared/data" in c.source for c in _code_cells(nb))


def test_there_is_a_quickstart():
    assert any(os.path.basename(p) == "quickstart.ipynb" for p in NOTEBOOKS)


# One notebook per paper (issue 9), each showing the paper's method against its baseline.
PAPER_NOTEBOOKS = ("balanced_mixup.ipynb", "perturbed_inference.ipynb", "metric_learning.ipynb",
                   "aduni.ipynb", "quadsnet.ipynb")


def _stream_text(nb):
    return "".join(out.get("text", "") for c in _code_cells(nb) for out in c.get("outputs", [])
                   if out.output_type == "stream")


def test_there_is_a_notebook_per_paper():
    assert set(PAPER_NOTEBOOKS) <= {os.path.basename(p) for p in NOTEBOOKS}


@pytest.mark.parametrize("name", PAPER_NOTEBOOKS[2:])
def test_paper_notebook_stores_a_results_table(name):
    # the stored run prints a `ComparisonResult.table()` and the notebook ends on what it shows
    nb = nbformat.read(os.path.join(NOTEBOOKS_DIR, name), as_version=4)
    assert "experiment.compare(" in "".join(c.source for c in _code_cells(nb))
    assert re.search(r"^\|---\|", _stream_text(nb), flags=re.M), "no results table printed"
    assert nb.cells[-1].cell_type == "markdown" and "what this tiny run shows" in \
        nb.cells[-1].source.lower()


@pytest.mark.parametrize("name", PAPER_NOTEBOOKS)
def test_paper_notebook_runs_on_a_shared_medmnist_set(name):
    # issue 9: "one notebook per paper showing its method on a real shared MedMNIST set", read
    # in place from ../shared/data (so the re-execution test skips without it)
    nb = nbformat.read(os.path.join(NOTEBOOKS_DIR, name), as_version=4)
    source = "".join(c.source for c in _code_cells(nb))
    assert re.search(r'"\.\./\.\./shared/data/\w+\.npz"', source) and "medmnist:" in source
    assert "digits-lt" not in source
    assert _needs_shared_data(nb)
    assert re.search(r"^medmnist:\w+: 2 classes", _stream_text(nb), flags=re.M), \
        "stored run is not on the shared set"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_stored_executed_without_errors(path):
    nb = nbformat.read(path, as_version=4)
    cells = _code_cells(nb)
    assert cells and all(c.execution_count is not None for c in cells), "not stored executed"
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), "not top to bottom"
    errors = [out for c in cells for out in c.get("outputs", []) if out.output_type == "error"]
    assert not errors
    assert _pngs(nb) >= 1, "no rendered plot"


# What a stored output must not show a reader: a local path, or TensorFlow / absl / tqdm
# start-up lines ("W0000 12:00:00.0 ...", "WARNING: All log messages before absl...").
NOISE = re.compile(r"(/work/|/tmp/|/home/|/root/|site-packages|^[WEIF]\d{4} \d\d:\d\d:\d\d|"
                   r"absl::InitializeLog|TqdmWarning|cuInit|oneDNN)", re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_stored_outputs_hold_no_local_paths_or_log_noise(path):
    nb = nbformat.read(path, as_version=4)
    texts = ["".join(out.get("text", "")) + "".join(
        v for k, v in out.get("data", {}).items() if k.startswith("text/") and isinstance(v, str))
        for c in _code_cells(nb) for out in c.get("outputs", [])]
    found = [m.group(0) for text in texts for m in [NOISE.search(text)] if m]
    assert not found, found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_only_public_api(path):
    nb = nbformat.read(path, as_version=4)
    for cell in _code_cells(nb):
        for line in cell.source.splitlines():
            if "kerasimb" in line:
                # no private names (`._x`; dunders such as `__version__` are fine), no `.src`
                assert not re.search(r"\._[A-Za-z]", line) and ".src" not in line, line


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_executes_from_a_fresh_kernel(path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(path, as_version=4)
    if _needs_shared_data(nb) and not os.path.isdir(
            os.path.join(NOTEBOOKS_DIR, "..", "..", "shared", "data")):
        pytest.skip("needs ../shared/data")
    client = nbclient.NotebookClient(nb, timeout=1200, kernel_name="python3",
                                     resources={"metadata": {"path": NOTEBOOKS_DIR}})
    client.execute()  # raises CellExecutionError on the first failing cell
    assert _pngs(nb) >= 1
