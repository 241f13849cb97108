"""`compare(methods=...)`: an empty selection is a clear error naming `methods` (the CLI's
`--methods ,` is tested in tests/cli/test_cli_main.py); nothing is loaded or trained."""

import pytest

from kerasimb import methods as methods_module
from kerasimb import runs


@pytest.fixture(autouse=True)
def no_training(monkeypatch):
    def trained(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(methods_module.Method, "train", trained)


@pytest.mark.parametrize("methods, message", [
    ([], r"at least one method\. Received: methods=\[\]"),
    ((), r"at least one method"),
    ("", r"a method name, not an empty one\. Received: methods=''"),
    (" , ", r"Received: methods=' , '"),
    (["ce", ""], r"Received: methods=\['ce', ''\]"),
    ("ce,focal", r"one name per item, e\.g\. \['ce', 'focal'\]\. Received: methods='ce,focal'"),
])
def test_empty_or_comma_separated_methods_are_clear_errors(methods, message):
    with pytest.raises(ValueError, match=r"argument `methods`.*" + message):
        runs.compare("digits-lt", methods=methods, epochs=1, progress=False)
