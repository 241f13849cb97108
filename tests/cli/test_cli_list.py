"""`kerasimb list` and the catalogue it reads: every registered name, no TensorFlow needed."""

import subprocess
import sys

from kerasimb import data, methods, models, recipes
from kerasimb.cli import catalog
from kerasimb.cli.main import main


def test_catalogue_is_up_to_date():
    """`catalog.json` equals what the registries say (rewrite it with
    `python -m kerasimb.cli.catalog` after adding or renaming a method, model or dataset)."""
    assert catalog.load() == catalog.build()


def test_list_prints_every_name(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for section in ("Datasets (--dataset):", "Methods (--methods):", "Models (--backbone):",
                    "Recipes (kerasimb run <recipe>):"):
        assert section in out
    assert "digits-lt" in out and "medmnist:<...>" in out and "<method>+perturb" in out
    lines = out.splitlines()
    for name in methods.names():
        line = next(line for line in lines if line.strip().startswith(name + " "))
        assert methods.get(name).description in line
    for name in models.MODELS.names():
        assert f"  {name} " in out
    assert "images >= 75x75" in out  # InceptionV3's minimum
    for name in recipes.RECIPES:
        assert any(line.strip().startswith(name + " ") for line in lines)
    assert "tune" not in [line.split()[0] for line in lines if line.startswith("  ")]
    assert len(data.DATASETS.names()) == sum(line.startswith("  ") for line in
                                    out.split("Methods")[0].splitlines())


def test_help_and_list_do_not_import_tensorflow():
    """The entry point imports only what `--help` and `list` need (no TensorFlow)."""
    code = ("import sys; sys.argv = ['kerasimb', 'list']\n"
            "from kerasimb.cli.main import main\n"
            "assert main(['--help']) == 0 and main(['list']) == 0\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, "
            "sorted(m for m in sys.modules if m.startswith(('tensorflow', 'keras')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Methods (--methods):" in done.stdout
