"""The README's code must run as printed, and its commands must match CI."""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_the_readme_test_command_word_for_word():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    test_command = [c for c in commands if "pytest" in c]
    assert len(test_command) == 1
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command[0].strip() in ci


@pytest.mark.slow
def test_readme_python_example_runs(capsys):
    block = re.search(r"```python\n(.*?)\n```", README, flags=re.S).group(1)
    exec(compile(block, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "balanced_accuracy" in out and "| ce |" in out
