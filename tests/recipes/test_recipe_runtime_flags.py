"""Every recipe (and `kerasimb tune` / `reproduce`) takes --mixed-precision, --distribute and
--jit-compile, and honours them: models are built and trained under the dtype policy, with the
XLA setting passed to `Method.train`."""

import glob
import os

import keras
import pytest
from recipe_runner import RECIPES, load_recipe

from kerasimb.methods.registry import Method

NAMES = sorted(os.path.splitext(os.path.basename(p))[0]
               for p in glob.glob(os.path.join(RECIPES, "*.py")))
FLAGS = ["--mixed-precision", "mixed_bfloat16", "--distribute", "mirrored", "--jit-compile", "off"]


def test_every_recipe_is_listed():
    assert {"aduni", "balanced_mixup", "metric_learning", "perturbed_inference", "quadsnet",
            "tune", "reproduce"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_parser_has_the_runtime_flags(name):
    parser = load_recipe(name).build_parser()
    defaults = parser.parse_args([])
    assert (defaults.mixed_precision, defaults.distribute, defaults.jit_compile) == (
        "float32", "none", "auto")
    args = parser.parse_args(FLAGS)
    assert (args.mixed_precision, args.distribute, args.jit_compile) == (
        "mixed_bfloat16", "mirrored", "off")
    assert parser.parse_args(["--mixed-precision"]).mixed_precision == "auto"
    with pytest.raises(SystemExit):
        parser.parse_args(["--mixed-precision", "float8"])


@pytest.mark.parametrize("name", [n for n in NAMES if n not in ("reproduce",)])
def test_recipe_source_passes_the_flags_on(name):
    """Recipes that call `experiment.compare` pass `**runtime_kwargs(args)`; the others train
    inside `runtime.run_context` (perturbed_inference) or through the tune command."""
    with open(os.path.join(RECIPES, f"{name}.py"), encoding="utf-8") as f:
        source = f.read()
    if "experiment.compare(" in source:
        assert "**runtime_kwargs(args)" in source
    elif name == "perturbed_inference":
        assert "runtime.run_context(" in source and "jit_compile=" in source
    else:
        assert name == "tune" and "command.run(" in source


def test_reproduce_forwards_the_flags():
    from kerasimb import reproduce

    args = load_recipe("reproduce").build_parser().parse_args(
        ["--mixed-precision", "mixed_bfloat16", "--jit-compile", "on"])
    assert reproduce.runtime_flags(args) == ["--mixed-precision", "mixed_bfloat16",
                                             "--jit-compile", "on"]
    argv = reproduce.recipe_command("recipes/quadsnet.py", "digits-lt", "small", "out",
                                    extra=reproduce.runtime_flags(args))
    assert argv[-4:] == ["--mixed-precision", "mixed_bfloat16", "--jit-compile", "on"]


@pytest.fixture
def train_calls(monkeypatch):
    """Records the dtype policy in force and the `jit_compile` of every `Method.train` call."""
    calls = []
    original = Method.train

    def spy(self, *args, **kwargs):
        calls.append((keras.config.dtype_policy().name, kwargs.get("jit_compile")))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Method, "train", spy)
    return calls


def test_perturbed_inference_tiny_run_in_bfloat16(tmp_path, train_calls):
    recipe = load_recipe("perturbed_inference")
    recipe.SWEEP_EPSILONS, recipe.SWEEP_TEMPERATURES = (1e-3,), (1000.0,)  # a short sweep
    out = tmp_path / "pi"
    code = recipe.main([
        "--dataset", "digits-lt", "--image-size", "8", "--backbones", "small_cnn",
        "--baselines", "ce", "--epochs", "1", "--batch-size", "128", "--seeds", "0",
        "--epsilon", "0.001", "--mixed-precision", "mixed_bfloat16", "--jit-compile", "off",
        "--no-progress", "--output", str(out)])
    assert code in (0, None)
    assert train_calls == [("mixed_bfloat16", False)]
    assert keras.config.dtype_policy().name == "float32"  # restored
    assert (out / "report.md").exists()


@pytest.mark.slow
def test_quadsnet_tiny_run_in_bfloat16(tmp_path, train_calls):
    recipe = load_recipe("quadsnet")
    out = tmp_path / "q"
    assert recipe.main(["--models", "quadsnet", "--epochs", "1", "--filters", "2", "2", "2", "2",
                        "--image-size", "16", "--no-progress", "--mixed-precision",
                        "mixed_bfloat16", "--jit-compile", "off", "--output", str(out)]) == 0
    assert train_calls and all(c == ("mixed_bfloat16", False) for c in train_calls)


@pytest.mark.slow
def test_tune_tiny_run_in_bfloat16(tmp_path, train_calls):
    recipe = load_recipe("tune")
    out = tmp_path / "t"
    assert recipe.main(["--dataset", "digits-lt", "--methods", "ce", "--max-trials", "1",
                        "--epochs", "1", "--image-size", "8", "--widths", "4", "--no-progress",
                        "--mixed-precision", "mixed_bfloat16", "--jit-compile", "off",
                        "--output", str(out)]) == 0
    assert train_calls and all(c == ("mixed_bfloat16", False) for c in train_calls)
