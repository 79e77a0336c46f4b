"""Index directory layout and atomic checkpoints.

    DIR/manifest.json   static config (dim, S, metric, layout, inner params, PCA on/off) and
                        the size + crc32 of pca.npz, sealed by a crc32 of its own
    DIR/pca.npz         the fitted PCA, if any (written once, by train, before any data)
    DIR/CURRENT         the newest complete snapshot and the one before it, sealed by a crc32
    DIR/snap-<seq>-<n>/ keys, full vectors, one folder per worker, copies of manifest.json and
                        pca.npz; state after WAL record <seq>
    DIR/wal.log         writes after that snapshot; wal.log.prev: the writes between the two
    DIR/work/           scratch (live NGT files); not part of the durable state

A snapshot is written to ``snap-<seq>-<n>.tmp``, fsync'd, renamed, and only then does CURRENT
switch to it, so a crash at any point leaves the previous snapshot + WAL intact. Its last file is
``CHECKSUMS.json`` (size + crc32 of every other file), checked by :func:`current`, so a damaged
snapshot fails to open naming the file; a snapshot without it is damaged too. Every file of the
durable state is thus under a required checksum; the previous snapshot is kept so that
``recovery`` can fall back to it (plus both WAL files) when the newest one is damaged.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import zlib

import numpy as np

from sanny.workers.errors import IndexCorrupt, InvalidArgument, StorageFull
from sanny.workers.fsio import fsync_dir, fsync_tree, lock_dir

from .pca import PCA

FORMAT = 1
CHECKSUMS = "CHECKSUMS.json"
COPIES = ("manifest.json", "pca.npz")  # root files each snapshot carries a copy of
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


def make_dir(root: str, overwrite: bool) -> None:
    """An empty directory for a new index (``overwrite``: emptied, unless it is open)."""
    if os.path.exists(root) and os.listdir(root):
        if not overwrite:
            raise InvalidArgument("path", f"{root!r} exists and is not empty (pass overwrite=True)")
        with lock_dir(root, lambda: IndexCorrupt(f"{root!r} is open in another process: not overwritten")):
            shutil.rmtree(root)
    os.makedirs(root, exist_ok=True)


def write_npz(path: str, **arrays) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(os.path.dirname(os.path.abspath(path)))


def _seal_crc(obj: dict) -> int:
    return zlib.crc32(json.dumps({k: v for k, v in obj.items() if k != "crc32"}, sort_keys=True).encode())


def write_sealed(path: str, obj: dict) -> None:
    """``write_json`` with a ``crc32`` of the rest of the object, checked by :func:`read_sealed`."""
    write_json(path, {**obj, "crc32": _seal_crc(obj)})


def read_sealed(path: str, what: str) -> dict:
    """The object at ``path``; ``IndexCorrupt`` naming ``what`` when it is missing its seal or
    the seal differs (damage, or written by a Sanny from before the seal)."""
    try:
        with open(path, "rb") as f:
            obj = json.loads(f.read().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise IndexCorrupt(f"{path} is damaged: {e}") from None
    if not isinstance(obj, dict) or "crc32" not in obj:
        raise IndexCorrupt(f"{path} is damaged: no checksum ({what} must carry one)")
    if obj["crc32"] != _seal_crc(obj):
        raise IndexCorrupt(f"{path} is damaged: its checksum differs")
    return obj


def file_sum(path: str) -> list[int]:
    return [os.path.getsize(path), _crc(path)]


def write_manifest(root: str, config: dict, layout: dict | None) -> None:
    """The manifest, with the checksum of pca.npz when there is one."""
    pca = os.path.join(root, "pca.npz")
    files = {"pca.npz": file_sum(pca)} if os.path.exists(pca) else {}
    write_sealed(os.path.join(root, "manifest.json"),
                 {"format": FORMAT, "config": config, "layout": layout, "files": files})


def read_manifest(root: str) -> dict:
    if not os.path.isdir(root):
        raise IndexCorrupt(f"index directory {root!r} does not exist")
    if os.path.exists(os.path.join(root, BUILDING)):
        raise IndexCorrupt(f"{root!r} is incomplete: its build was interrupted (rebuild with sanny build --overwrite)")
    path = os.path.join(root, "manifest.json")
    if not os.path.exists(path):
        raise IndexCorrupt(f"{root!r} is not a Sanny index: manifest.json is missing")
    man = read_sealed(path, "manifest.json")
    if man.get("format") != FORMAT or "config" not in man:
        raise IndexCorrupt(f"{path} is not a Sanny format-{FORMAT} manifest")
    return man


def load_pca(root: str, man: dict):
    """The fitted PCA (checked against the manifest) or None."""
    path = pca_path(root, man)
    if path is None:
        return None
    with np.load(path) as z:
        return PCA.from_state(z)


def pca_path(root: str, man: dict) -> str | None:
    """pca.npz, checked against the manifest (None when the index has no fitted PCA: a file
    the manifest does not list is debris of a ``train`` cut short)."""
    want = (man.get("files") or {}).get("pca.npz")
    if want is None:
        return None
    path = os.path.join(root, "pca.npz")
    if not os.path.isfile(path):
        raise IndexCorrupt(f"{root!r}: pca.npz is missing (the manifest lists it)")
    if file_sum(path) != want:
        raise IndexCorrupt(f"{root!r}: pca.npz is damaged (size/crc32 differ from manifest.json)")
    return path


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
        raise IndexCorrupt(f"snapshot {name} is damaged: {CHECKSUMS} is missing") from None
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        raise IndexCorrupt(f"snapshot {name}: {CHECKSUMS} is damaged: {e}") from None
    for rel, want in sorted(sums.items()):
        path = os.path.join(snap, rel)
        if not os.path.isfile(path):
            raise IndexCorrupt(f"snapshot {name} is damaged: {rel} is missing")
        if [os.path.getsize(path), _crc(path)] != want:
            raise IndexCorrupt(f"snapshot {name}: {rel} is damaged (size/crc32 differ from {CHECKSUMS})")


def pointer(root: str) -> dict:
    """CURRENT: ``{"snapshot": name, "previous": name or None}``."""
    path = os.path.join(root, "CURRENT")
    if not os.path.exists(path):
        raise IndexCorrupt(f"{root!r}: CURRENT is missing (index never completed its first save)")
    cur = read_sealed(path, "CURRENT")
    for k in ("snapshot", "previous"):
        name = cur.get(k)
        if (name is not None or k == "snapshot") and not _snap_name(name):
            raise IndexCorrupt(f"{root!r}: CURRENT names {name!r}, which is not a snapshot folder")
    return cur


def _snap_name(name) -> bool:
    parts = name.split("-") if isinstance(name, str) else []
    return len(parts) == 3 and parts[0] == "snap" and parts[1].isdigit() and parts[2].isdigit()


def snap_seq(name: str) -> int:
    return int(os.path.basename(name).split("-")[1])


def current(root: str, check: bool = True) -> tuple[str, int]:
    """(snapshot dir, its WAL seq); ``check``: verify the snapshot's checksums first."""
    name = pointer(root)["snapshot"]
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        raise IndexCorrupt(f"{root!r}: CURRENT names {name!r}, which is not a snapshot folder")
    if check:
        verify(path)
    return path, snap_seq(name)


def set_current(root: str, name: str, previous: str | None) -> None:
    write_sealed(os.path.join(root, "CURRENT"), {"snapshot": name, "previous": previous})


def disk_full(e: BaseException, path: str) -> bool:
    """Whether ``e`` (an OSError, or a library's RuntimeError that only quotes the OS) failed
    for lack of space: ENOSPC / EDQUOT, their message, or (almost) no space left at ``path``."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if any(os.strerror(n) in str(e) for n in (errno.ENOSPC, errno.EDQUOT)):
        return True
    try:
        return shutil.disk_usage(path).free < (1 << 16)
    except OSError:
        return False


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
    try:
        previous = pointer(root)["snapshot"]
    except IndexCorrupt:  # the first save, or a CURRENT being replaced by recovery
        previous = None
    try:
        os.makedirs(tmp)
        write(tmp)
        for f in COPIES:
            if os.path.exists(os.path.join(root, f)):
                shutil.copyfile(os.path.join(root, f), os.path.join(tmp, f))
        write_checksums(tmp)
        fsync_tree(tmp)
        os.rename(tmp, final)
        fsync_dir(root)
        set_current(root, name, previous)
    except BaseException as e:  # a failed save (full disk, a worker down) leaves no debris behind
        full = isinstance(e, Exception) and disk_full(e, root)
        for debris in (tmp, final):  # CURRENT still names the previous snapshot
            shutil.rmtree(debris, ignore_errors=True)
        if full:
            raise StorageFull(f"{root!r}: the checkpoint does not fit on the disk ({e}); nothing "
                              "changed, the WAL keeps every write") from e
        raise
    for other in os.listdir(root):  # the previous snapshot stays: recovery's fallback
        if other.startswith("snap-") and other not in (name, previous):
            shutil.rmtree(os.path.join(root, other), ignore_errors=True)
