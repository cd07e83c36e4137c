"""Tests for course_lib.train, the command line of the training commands. The
commands are replaced by stand-ins, so nothing trains."""

import runpy
import sys

import pytest

from course_lib import config, ship, tokens_ship, train


@pytest.fixture
def recorded(monkeypatch):
    """Replace every training command by one that records its arguments."""
    calls = []
    for name in train.COMMANDS:

        def command(profile, seed, name=name):
            calls.append((name, profile, seed))
            return {"what": name, "seconds": 0.0}

        monkeypatch.setitem(train.COMMANDS, name, command)
        # Running the module anew rebuilds train.COMMANDS from its sources.
        if name in ship.COMMANDS:
            monkeypatch.setitem(ship.COMMANDS, name, command)
        else:
            monkeypatch.setattr(tokens_ship, "ship", command)
    return calls


@pytest.mark.parametrize("what", ["classifier", "gan", "vae"])
def test_dispatches_to_the_named_command_with_profile_and_seed(recorded, capsys, what):
    assert train.main([what, "--profile", "quick", "--seed", "7"]) == 0
    assert recorded == [(what, config.get_profile("quick"), 7)]
    assert capsys.readouterr().out.splitlines() == [f"what: {what}", "seconds: 0.0"]


def test_defaults_are_the_full_profile_and_the_course_seed(recorded):
    assert train.main(["gan"]) == 0
    assert recorded == [("gan", config.get_profile("full"), config.DEFAULT_SEED)]


def test_rejects_an_unknown_profile_with_exit_status_2(recorded, capsys):
    assert train.main(["gan", "--profile", "huge"]) == 2
    assert "Valid profiles" in capsys.readouterr().err
    assert recorded == []


def test_rejects_an_unknown_model_and_lists_the_choices(recorded, capsys):
    with pytest.raises(SystemExit) as error:
        train.main(["diffusion"])
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert "diffusion" in message and all(name in message for name in train.COMMANDS)
    assert recorded == []


# runpy warns that course_lib.train is already imported; the test wants exactly
# that, so that the stand-in commands stay in place.
@pytest.mark.filterwarnings("ignore:'course_lib.train' found in sys.modules")
def test_runs_as_a_module(recorded, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["train", "vae", "--profile", "quick"])
    with pytest.raises(SystemExit) as error:
        runpy.run_module("course_lib.train", run_name="__main__")
    assert error.value.code == 0
    assert recorded == [("vae", config.get_profile("quick"), config.DEFAULT_SEED)]
