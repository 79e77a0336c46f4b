"""Without the cnn extra, the image commands say which extra to install (and the rest of the
CLI still starts). The missing install is simulated: ``sys.modules[name] = None`` makes
``import name`` raise ImportError exactly as an absent package does."""
from __future__ import annotations

import sys

import pytest

from sanny.engine.extract import MissingExtra, require_torch

from extract_helpers import picture, run_cli


@pytest.fixture
def no_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)


def test_require_torch_names_the_extra(no_torch):
    with pytest.raises(MissingExtra, match=r"sanny\[cnn\]"):
        require_torch()


@pytest.mark.parametrize("cmd", ["extract", "register", "search-image"])
def test_commands_say_which_extra_to_install(no_torch, tmp_path, capsys, cmd):
    picture(0).save(tmp_path / "a.png")
    target = {"extract": ["--out", tmp_path / "f.npz"], "register": ["--index", tmp_path / "ix"],
              "search-image": ["--index", tmp_path / "ix"]}[cmd]
    code, _, err = run_cli(capsys, cmd, tmp_path / "a.png", *target, "--no-progress")
    assert code == 2
    assert "pip install 'sanny[cnn]'" in err and "Traceback" not in err
    assert not (tmp_path / "ix").exists()  # nothing created before the check


def test_other_commands_still_work(no_torch, capsys):
    with pytest.raises(SystemExit) as e:
        run_cli(capsys, "--help")
    assert e.value.code == 0
