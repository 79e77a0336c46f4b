"""Image folder -> index: extract features and write them in batches, resumably.

The target is anything with ``exists``/``insert``/``upsert`` like :class:`Index` and
:class:`~sanny.engine.api.client.Client`, so the same code registers into an embedded index or
through a server. The index itself is the progress record: keys already in it are skipped
before any decoding, so a second run (after a crash or on a grown folder) does only new files.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from sanny.workers.errors import AlreadyExists

log = logging.getLogger(__name__)


@dataclass
class Report:
    found: int = 0
    already: int = 0           # keys present before this run (skipped)
    written: int = 0
    write_s: float = 0.0       # seconds spent in insert/upsert calls
    skipped: list = field(default_factory=list)  # (key, path, reason)


def present(target, keys: list[str], chunk: int = 2000) -> np.ndarray:
    """Which ``keys`` the target already holds (asked in chunks to bound message size)."""
    out = [np.asarray(target.exists(keys[a: a + chunk]), bool) for a in range(0, len(keys), chunk)]
    return np.concatenate(out) if out else np.zeros(0, bool)


def _grouped(batches, size: int):
    """Re-batch extractor output into ``size``-row writes (fewer WAL syncs and index builds)."""
    keys, vecs, n = [], [], 0
    for b in batches:
        keys += b.keys
        vecs.append(b.vectors)
        n += len(b.keys)
        if n >= size:
            yield keys, np.concatenate(vecs)
            keys, vecs, n = [], [], 0
    if n:
        yield keys, np.concatenate(vecs)


def register(target, files: list[str], keys: list[str], batches_for, *, write_batch: int = 256,
             upsert: bool = False, redo: bool = False) -> Report:
    """Write features of ``files`` under ``keys``. ``batches_for(files, keys)`` yields extractor
    batches. ``upsert`` writes with Upsert instead of Insert; ``redo`` re-extracts keys that are
    already present (implies upsert)."""
    rep = Report(found=len(files))
    if redo:
        todo = list(range(len(files)))
        upsert = True
    else:
        have = present(target, keys)
        rep.already = int(have.sum())
        todo = np.nonzero(~have)[0].tolist()
    if rep.already:
        log.info("%d of %d images are already registered; extracting the other %d",
                 rep.already, len(files), len(todo))
    groups = _grouped(batches_for([files[i] for i in todo], [keys[i] for i in todo]), write_batch)
    for ks, x in groups:
        t0 = time.perf_counter()
        rep.written += _write(target, ks, x, upsert)
        rep.write_s += time.perf_counter() - t0
    return rep


def _write(target, keys: list[str], x: np.ndarray, upsert: bool) -> int:
    if upsert:
        target.upsert(keys, x)
        return len(keys)
    try:
        target.insert(keys, x)
        return len(keys)
    except AlreadyExists:  # someone else registered some of them meanwhile: keep theirs
        new = ~present(target, keys)
        if new.any():
            target.insert([k for k, n in zip(keys, new) if n], x[new])
        return int(new.sum())
