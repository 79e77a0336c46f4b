"""A segmented inner index on disk: ``segments.npz`` (the sealed serials, the live growing ids,
the next serial) and per sealed segment its graph (the library's own file) plus ``seg-N.npz``
(row -> internal id, the delete bitmap). ``Segment`` is one sealed segment in memory."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

INDEX = "segments.npz"


@dataclass
class Segment:
    serial: int
    graph: object
    gid_of: np.ndarray  # int64 [rows]: internal id of each row
    dead: np.ndarray = field(default=None)  # bool [rows]
    n_dead: int = 0
    identity: bool = False  # row i is internal id i (a build over ids 0..n-1 in order)

    def __post_init__(self):
        if self.dead is None:
            self.dead = np.zeros(len(self.gid_of), bool)
        self.n_dead = int(self.dead.sum())
        self.identity = bool((self.gid_of == np.arange(len(self.gid_of))).all())

    @property
    def live(self) -> int:
        return len(self.gid_of) - self.n_dead


def present(path: str) -> bool:
    """Whether ``path`` holds a segmented save (older saves are one graph: ``inner.load_legacy``)."""
    return os.path.exists(os.path.join(path, INDEX))


def write(path: str, segs: list, dead: list, growing: np.ndarray, serial: int) -> None:
    """``segs`` with the delete bitmaps ``dead`` taken under the inner's lock, and ``growing``."""
    for seg, dd in zip(segs, dead):
        base = os.path.join(path, f"seg-{seg.serial}")
        seg.graph.save(base)
        np.savez(base + ".npz", gid_of=seg.gid_of, dead=dd)
    np.savez(os.path.join(path, INDEX), serials=np.array([s.serial for s in segs], np.int64),
             growing=growing, next=np.array([serial], np.int64))


def read(path: str, load_graph) -> tuple[dict, np.ndarray, int]:
    """``(sealed segments by serial, growing ids, next serial)``; ``load_graph(base, rows)``."""
    with np.load(os.path.join(path, INDEX)) as z:
        serials, growing, nxt = z["serials"], z["growing"].copy(), int(z["next"][0])
    sealed = {}
    for sv in serials:
        base = os.path.join(path, f"seg-{int(sv)}")
        with np.load(base + ".npz") as z:
            gid_of, dead = z["gid_of"].copy(), z["dead"].copy()
        sealed[int(sv)] = Segment(int(sv), load_graph(base, len(gid_of)), gid_of, dead)
    return sealed, growing, nxt
