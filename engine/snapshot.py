"""Index directory layout and atomic checkpoints.

    DIR/manifest.json   static config (dim, S, metric, layout, inner params, PCA on/off)
    DIR/pca.npz         the fitted PCA, if any (written once, by train, before any data)
    DIR/CURRENT         name of the newest complete snapshot
    DIR/snap-<seq>-<n>/ keys, full vectors, one folder per worker; state after WAL record <seq>
    DIR/wal.log         writes after that snapshot
    DIR/work/           scratch (live NGT files); not part of the durable state

A snapshot is written to ``snap-<seq>-<n>.tmp``, fsync'd, renamed, and only then does CURRENT
switch to it, so a crash at any point leaves the previous snapshot + WAL intact.
"""
from __future__ import annotations

import json
import os
import shutil

from sanny.workers.errors import IndexCorrupt
from sanny.workers.fsio import fsync_dir, fsync_tree

FORMAT = 1


def write_json(path: str, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def read_manifest(root: str) -> dict:
    if not os.path.isdir(root):
        raise IndexCorrupt(f"index directory {root!r} does not exist")
    path = os.path.join(root, "manifest.json")
    try:
        with open(path) as f:
            man = json.load(f)
    except FileNotFoundError:
        raise IndexCorrupt(f"{root!r} is not a Sanny index: manifest.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexCorrupt(f"{path} is damaged: {e}") from None
    if not isinstance(man, dict) or man.get("format") != FORMAT or "config" not in man:
        raise IndexCorrupt(f"{path} is not a Sanny format-{FORMAT} manifest")
    return man


def current(root: str) -> tuple[str, int]:
    """(snapshot dir, its WAL seq)."""
    try:
        with open(os.path.join(root, "CURRENT")) as f:
            name = f.read().strip()
    except FileNotFoundError:
        raise IndexCorrupt(f"{root!r}: CURRENT is missing (index never completed its first save)") from None
    path = os.path.join(root, name)
    if not name.startswith("snap-") or not os.path.isdir(path):
        raise IndexCorrupt(f"{root!r}: CURRENT names {name!r}, which is not a snapshot folder")
    try:
        return path, int(name.split("-")[1])
    except (ValueError, IndexError):
        raise IndexCorrupt(f"{root!r}: bad snapshot name {name!r}") from None


def commit(root: str, seq: int, write) -> None:
    """Write a new snapshot with ``write(tmpdir)`` and make it CURRENT atomically."""
    # a fresh name every time: saving twice at the same seq must never touch the live snapshot
    gen = 1 + max((int(n.split("-")[2]) for n in os.listdir(root)
                   if n.startswith("snap-") and n.count("-") == 2 and n.split("-")[2].isdigit()), default=0)
    name = f"snap-{seq:012d}-{gen}"
    final, tmp = os.path.join(root, name), os.path.join(root, name + ".tmp")
    os.makedirs(tmp)
    write(tmp)
    fsync_tree(tmp)
    os.rename(tmp, final)
    fsync_dir(root)
    cur = os.path.join(root, "CURRENT")
    with open(cur + ".tmp", "w") as f:
        f.write(name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(cur + ".tmp", cur)
    fsync_dir(root)
    for other in os.listdir(root):
        if other.startswith("snap-") and other != name:
            shutil.rmtree(os.path.join(root, other), ignore_errors=True)
