"""docs/ARCHITECTURE.md stays true: every ``path.py`` it names exists, every ``path.py:Name`` /
``path.py:Class.method`` it names is defined there (inherited methods count), and its command
table matches the ``sanny.commands`` entry points and the commands each one registers."""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
DOC = open(os.path.join(ROOT, "docs", "ARCHITECTURE.md")).read()
PACKAGES = {"engine": "sanny.engine", "workers": "sanny.workers", "bench": "sanny.bench",
            "experiments": "experiments"}
NAMED = re.compile(r"`((?:engine|workers|bench|experiments)/[\w/]+\.py)(?::([\w.]+))?")


def _module(path: str) -> str:
    top, _, rest = path[:-3].partition("/")
    return ".".join([PACKAGES[top], *rest.split("/")])


def _named() -> list[tuple[str, str]]:
    found = sorted(set(NAMED.findall(DOC)))
    assert len(found) > 30, "the pattern no longer matches how the page names code"
    return found


@pytest.mark.parametrize("path,name", _named(), ids=lambda v: v or "file")
def test_every_file_and_name_the_page_gives_exists(path, name):
    assert os.path.isfile(os.path.join(ROOT, path)), f"{path} does not exist"
    if not name:
        return
    obj = importlib.import_module(_module(path))
    for part in name.split("."):
        assert hasattr(obj, part), f"{path}:{name}: no {part!r}"
        obj = getattr(obj, part)


def _table() -> dict[str, tuple[str, list[str]]]:
    """The Commands table: entry point -> (module file, commands)."""
    section = DOC[DOC.index("## Commands"):DOC.index("## One insert")]
    rows = re.findall(r"^\| `([\w-]+)` \| `([\w/]+\.py)` \| (.+) \|$", section, re.M)
    return {ep: (path, re.findall(r"`([\w-]+)`", cmds)) for ep, path, cmds in rows}


def test_command_table_is_every_entry_point_and_its_commands():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        eps = tomllib.load(f)["project"]["entry-points"]["sanny.commands"]
    table = _table()
    assert set(table) == set(eps)
    for ep, target in eps.items():
        path, commands = table[ep]
        module, _, fn = target.partition(":")
        assert module == _module(path), (ep, module, path)
        sub = argparse.ArgumentParser().add_subparsers()
        getattr(importlib.import_module(module), fn)(sub)
        assert sorted(sub.choices) == sorted(commands), ep
