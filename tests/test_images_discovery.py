"""Which files a folder / glob / single file yields, in what order, under which keys."""
from __future__ import annotations

import os

import pytest

from sanny.engine.extract.images import find_images


@pytest.fixture
def tree(tmp_path):
    for rel in ("b.png", "a.jpg", "sub/c.PNG", "sub/deep/d.webp", "notes.txt", "sub/x.json"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x")
    return tmp_path


def test_directory_is_recursive_sorted_and_keys_are_relative(tree):
    files, keys, ignored = find_images(str(tree))
    assert keys == ["a.jpg", "b.png", "sub/c.PNG", "sub/deep/d.webp"]
    assert files == [str(tree / k) for k in keys]
    assert ignored == 2


def test_all_files_tries_everything(tree):
    _, keys, ignored = find_images(str(tree), all_files=True)
    assert "notes.txt" in keys and ignored == 0


def test_glob_keys_are_relative_to_its_fixed_prefix(tree):
    _, keys, _ = find_images(os.path.join(str(tree), "sub", "**", "*"))
    assert keys == ["c.PNG", "deep/d.webp"]


def test_root_overrides_the_key_base(tree):
    _, keys, _ = find_images(str(tree / "sub"), root=str(tree))
    assert keys == ["sub/c.PNG", "sub/deep/d.webp"]


def test_single_file(tree):
    files, keys, _ = find_images(str(tree / "sub" / "c.PNG"))
    assert keys == ["c.PNG"] and len(files) == 1


def test_nothing_there(tmp_path):
    with pytest.raises(FileNotFoundError):
        find_images(str(tmp_path / "missing"))
