"""The shared entry-point convention: a UserError is one line and exit status 2."""
import pytest

from mask2former.cli import DEBUG_ENV, run_cli
from mask2former.config import ConfigKeyError
from mask2former.errors import UserError


def _failing(argv):
    raise ConfigKeyError("a.yaml: unknown config key X.Y")


def test_user_error_is_one_line_and_status_2(capsys, monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_cli(_failing, [], prog="tool") == 2
    err = capsys.readouterr().err
    assert err == "tool: error: a.yaml: unknown config key X.Y\n"


@pytest.mark.parametrize("argv, env", [(["--debug"], None), ([], "1")])
def test_debug_shows_the_traceback(argv, env, monkeypatch):
    if env is None:
        monkeypatch.delenv(DEBUG_ENV, raising=False)
    else:
        monkeypatch.setenv(DEBUG_ENV, env)
    with pytest.raises(UserError):
        run_cli(_failing, argv, prog="tool")


def test_status_of_main_is_returned(monkeypatch):
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert run_cli(lambda argv: None, []) == 0
    assert run_cli(lambda argv: 1, []) == 1
    with pytest.raises(RuntimeError):  # not the user's mistake: keeps its traceback
        run_cli(lambda argv: (_ for _ in ()).throw(RuntimeError("bug")), [])
