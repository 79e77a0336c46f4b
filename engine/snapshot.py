"""Index directory layout and atomic checkpoints.

    DIR/manifest.json   static config (dim, S, metric, layout, inner params, PCA on/off)
    DIR/pca.npz         the fitted PCA, if any (written once, by train, before any data)
    DIR/CURRENT         name of the newest complete snapshot
    DIR/snap-<seq>-<n>/ keys, full vectors, one folder per worker; state after WAL record <seq>
    DIR/wal.log         writes after that snapshot
    DIR/work/           scratch (live NGT files); not part of the durable state

A snapshot is written to ``snap-<seq>-<n>.tmp``, fsync'd, renamed, and only then does CURRENT
switch to it, so a crash at any point leaves the previous snapshot + WAL intact. Its last file is
``CHECKSUMS.json`` (size + crc32 of every other file), checked by :func:`current` so a damaged
snapshot fails to open naming the file (snapshots from before checksums open unchecked).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import zlib

from sanny.workers.errors import IndexCorrupt
from sanny.workers.fsio import fsync_dir, fsync_tree

FORMAT = 1
CHECKSUMS = "CHECKSUMS.json"
BUILDING = "BUILDING"  # written by `sanny build` first, removed last: an interrupted build

log = logging.getLogger(__name__)


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
    if os.path.exists(os.path.join(root, BUILDING)):
        raise IndexCorrupt(f"{root!r} is incomplete: its build was interrupted (rebuild with sanny build --overwrite)")
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


def _files(snap: str) -> list[str]:
    out = []
    for d, _, files in os.walk(snap):
        out += [os.path.relpath(os.path.join(d, f), snap) for f in files]
    return sorted(f for f in out if f != CHECKSUMS)


def _crc(path: str) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            crc = zlib.crc32(chunk, crc)
    return crc


def write_checksums(snap: str) -> None:
    """Record size and crc32 of every file in ``snap`` (call after everything else is written)."""
    sums = {rel: [os.path.getsize(os.path.join(snap, rel)), _crc(os.path.join(snap, rel))] for rel in _files(snap)}
    with open(os.path.join(snap, CHECKSUMS), "w") as f:
        json.dump({"crc32": sums, "self": _self_crc(sums)}, f, indent=0)


def _self_crc(sums: dict) -> int:
    """Checksum of the checksum table itself, so a damaged table is named as such."""
    return zlib.crc32(json.dumps(sums, sort_keys=True).encode())


def verify(snap: str) -> None:
    """``IndexCorrupt`` naming the first file of ``snap`` that is missing or differs from its
    recorded size / crc32."""
    name = os.path.basename(snap)
    try:
        with open(os.path.join(snap, CHECKSUMS)) as f:
            table = json.load(f)
        sums = table["crc32"]
        if _self_crc(sums) != table["self"]:
            raise ValueError("its own checksum differs")
    except FileNotFoundError:
        log.info("%s has no %s (saved before snapshot checksums): not verified", snap, CHECKSUMS)
        return
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise IndexCorrupt(f"snapshot {name}: {CHECKSUMS} is damaged: {e}") from None
    for rel, want in sorted(sums.items()):
        path = os.path.join(snap, rel)
        if not os.path.isfile(path):
            raise IndexCorrupt(f"snapshot {name} is damaged: {rel} is missing")
        if [os.path.getsize(path), _crc(path)] != want:
            raise IndexCorrupt(f"snapshot {name}: {rel} is damaged (size/crc32 differ from {CHECKSUMS})")


def current(root: str, check: bool = True) -> tuple[str, int]:
    """(snapshot dir, its WAL seq); ``check``: verify the snapshot's checksums first."""
    try:
        with open(os.path.join(root, "CURRENT")) as f:
            name = f.read().strip()
    except FileNotFoundError:
        raise IndexCorrupt(f"{root!r}: CURRENT is missing (index never completed its first save)") from None
    path = os.path.join(root, name)
    if not name.startswith("snap-") or not os.path.isdir(path):
        raise IndexCorrupt(f"{root!r}: CURRENT names {name!r}, which is not a snapshot folder")
    try:
        seq = int(name.split("-")[1])
    except (ValueError, IndexError):
        raise IndexCorrupt(f"{root!r}: bad snapshot name {name!r}") from None
    if check:
        verify(path)
    return path, seq


def commit(root: str, seq: int, write) -> None:
    """Write a new snapshot with ``write(tmpdir)`` and make it CURRENT atomically. The caller
    holds the index lock, so any ``snap-*.tmp`` found is debris of a failed save: removed."""
    for n in os.listdir(root):
        if n.startswith("snap-") and n.endswith(".tmp"):
            log.warning("removing %s, left by a save that did not finish", n)
            shutil.rmtree(os.path.join(root, n))
    # a fresh name every time: saving twice at the same seq must never touch the live snapshot
    gen = 1 + max((int(n.split("-")[2]) for n in os.listdir(root)
                   if n.startswith("snap-") and n.count("-") == 2 and n.split("-")[2].isdigit()), default=0)
    name = f"snap-{seq:012d}-{gen}"
    final, tmp = os.path.join(root, name), os.path.join(root, name + ".tmp")
    os.makedirs(tmp)
    try:
        write(tmp)
        write_checksums(tmp)
        fsync_tree(tmp)
    except BaseException:  # a failed save (full disk, a worker down) leaves no debris behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
