"""A normal (non-editable) install works away from the source tree: the wheel carries the
recipes and the catalogue, so `kerasimb list` shows the five recipes and `kerasimb run <recipe>
--help` works from another directory.

The wheel is built from a clean copy of the project files (no build isolation, no network) and
installed with `--no-deps` into a fresh virtual environment that sees this environment's
packages (TensorFlow, Keras, ...) through a path file, but not its editable kerasimb.
"""

import glob
import os
import shutil
import site
import subprocess
import sys
import sysconfig

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT_FILES = ("kerasimb", "setup.cfg", "setup.py", "pyproject.toml", "README.md")


def _run(argv, cwd, **kwargs):
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, **kwargs)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`(kerasimb executable, python executable, a working folder)` of a wheel install."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    for name in PROJECT_FILES:
        src = os.path.join(ROOT, name)
        if os.path.isdir(src):
            shutil.copytree(src, source / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy(src, source / name)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
          "-w", str(tmp / "dist"), str(source)], cwd=tmp)
    (wheel,) = glob.glob(str(tmp / "dist" / "kerasimb-*.whl"))
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp)
    python = str(venv / "bin" / "python")
    venv_site = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
            *site.getsitepackages()}
    with open(os.path.join(venv_site, "test_environment.pth"), "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(p for p in ours if os.path.isdir(p))) + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return str(venv / "bin" / "kerasimb"), python, str(elsewhere)


def test_the_installed_package_is_the_wheel(installed):
    _, python, elsewhere = installed
    done = _run([python, "-c", "import kerasimb.cli, os; print(kerasimb.cli.__file__)"],
                cwd=elsewhere)
    assert "site-packages" in done.stdout and not done.stdout.startswith(ROOT)


def test_list_shows_the_five_recipes(installed):
    kerasimb, _, elsewhere = installed
    out = _run([kerasimb, "list"], cwd=elsewhere).stdout
    recipes = out.split("Recipes (kerasimb run <recipe>):")[1].split()
    for name in ("balanced_mixup", "metric_learning", "perturbed_inference", "aduni",
                 "quadsnet"):
        assert name in recipes
    assert "tune" not in recipes and "reproduce" not in recipes


def test_run_recipe_help_and_errors(installed):
    kerasimb, python, elsewhere = installed
    out = _run([kerasimb, "run", "balanced_mixup", "--help"], cwd=elsewhere).stdout
    assert "--alphas" in out and "--epochs" in out
    out = _run([python, "-m", "kerasimb.recipes.quadsnet", "--help"], cwd=elsewhere).stdout
    assert "--models" in out
    bad = subprocess.run([kerasimb, "run", "aduni", "--paco-queue", "-1"], cwd=elsewhere,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2
    assert bad.stderr == "kerasimb: error: argument --paco-queue: expected >= 0, received -1\n"
