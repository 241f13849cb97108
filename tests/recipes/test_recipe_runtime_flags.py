"""Every recipe (and `kerasimb compare` / `tune` / `reproduce`) takes --mixed-precision,
--distribute and --jit-compile, and honours them: models are built and trained under the dtype
policy, with the XLA setting passed to `Method.train`."""

import inspect

import keras
import pytest
from recipe_runner import load_recipe, recipe_parser, run_recipe

from kerasimb.cli.args import UsageError
from kerasimb.cli.main import build_parser, main
from kerasimb.methods.registry import Method
from kerasimb.recipes import RECIPES

FLAGS = ["--mixed-precision", "mixed_bfloat16", "--distribute", "mirrored", "--jit-compile", "off"]


def test_every_paper_has_a_recipe():
    assert set(RECIPES) == {"aduni", "balanced_mixup", "metric_learning",
                            "perturbed_inference", "quadsnet"}


def _parsers():
    commands = build_parser()._subparsers._group_actions[0].choices
    return {**{name: recipe_parser(name) for name in RECIPES},
            "compare": commands["compare"], "tune": commands["tune"]}


@pytest.mark.parametrize("name", [*RECIPES, "compare", "tune"])
def test_parser_has_the_runtime_flags(name):
    parser = _parsers()[name]
    defaults = parser.parse_args([])
    assert (defaults.mixed_precision, defaults.distribute, defaults.jit_compile) == (
        "float32", "none", "auto")
    args = parser.parse_args(FLAGS)
    assert (args.mixed_precision, args.distribute, args.jit_compile) == (
        "mixed_bfloat16", "mirrored", "off")
    assert parser.parse_args(["--mixed-precision"]).mixed_precision == "auto"
    with pytest.raises(UsageError, match="--mixed-precision: invalid choice"):
        parser.parse_args(["--mixed-precision", "float8"])


@pytest.mark.parametrize("name", RECIPES)
def test_recipe_source_passes_the_flags_on(name):
    """Recipes that call `runs.compare` pass `**runs.compare_kwargs(args)` (which carries the
    runtime flags); perturbed_inference trains inside `runtime.run_context` itself."""
    source = inspect.getsource(load_recipe(name))
    if "runs.compare(" in source:
        assert "runs.compare_kwargs(args)" in source
    else:
        assert name == "perturbed_inference"
        assert "runtime.run_context(" in source and "jit_compile=" in source


def test_reproduce_forwards_the_flags(tmp_path, monkeypatch):
    from kerasimb.recipes import reproduce

    seen = {}

    def fake_reproduce(dataset, budget, output, **kwargs):
        seen.update(kwargs)
        (tmp_path / "report.md").write_text("| verdicts |\n")

    monkeypatch.setattr(reproduce, "reproduce", fake_reproduce)
    assert main(["reproduce", "--mixed-precision", "mixed_bfloat16", "--jit-compile", "on",
                 "--output", str(tmp_path)]) == 0
    assert seen["extra"] == ["--mixed-precision", "mixed_bfloat16", "--jit-compile", "on"]
    argv = reproduce.recipe_command("quadsnet", "digits-lt", "small", "out",
                                    extra=seen["extra"])
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


def test_perturbed_inference_tiny_run_in_bfloat16(tmp_path, train_calls, monkeypatch):
    recipe = load_recipe("perturbed_inference")
    monkeypatch.setattr(recipe, "SWEEP_EPSILONS", (1e-3,))  # a short sweep
    monkeypatch.setattr(recipe, "SWEEP_TEMPERATURES", (1000.0,))
    out = tmp_path / "pi"
    code = run_recipe("perturbed_inference", [
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
    out = tmp_path / "q"
    assert run_recipe("quadsnet", ["--models", "quadsnet", "--epochs", "1", "--filters", "2", "2", "2", "2",
                        "--image-size", "16", "--no-progress", "--mixed-precision",
                        "mixed_bfloat16", "--jit-compile", "off", "--output", str(out)]) == 0
    assert train_calls and all(c == ("mixed_bfloat16", False) for c in train_calls)


@pytest.mark.slow
def test_tune_tiny_run_in_bfloat16(tmp_path, train_calls):
    out = tmp_path / "t"
    assert main(["tune", "--dataset", "digits-lt", "--methods", "ce", "--max-trials", "1",
                        "--epochs", "1", "--image-size", "8", "--widths", "4", "--no-progress",
                        "--mixed-precision", "mixed_bfloat16", "--jit-compile", "off",
                        "--output", str(out)]) == 0
    assert train_calls and all(c == ("mixed_bfloat16", False) for c in train_calls)
