"""The R x S grid: row shards of one subspace group, each a :class:`~.replicas.Cell` of F replicas.

Row shard of a vector = its internal id mod R (R = ``IndexConfig.shards``, fixed at creation and
stored in the manifest). Internal ids are handed out once in insertion order and never reused
(an upsert gets a new id), so a vector never moves between shards, shards stay balanced, and a
shard's ids ``r, r+R, r+2R, ...`` become the dense local ids ``id // R`` on its workers — each
worker stores only its 1/R of the rows (``SliceStore`` is indexed by id). A key's shard is the
shard of its current id; the coordinator's key -> id map routes every write.

A :class:`GridColumn` is one subspace group across all R shards and implements the ``Worker``
interface, so the index's fan-out, pipeline and re-rank are unchanged: its ``search`` merges the
R shards' top-T lists per subspace into the exact top-T of the whole group (a vector missing
from the merged list is at least as far as the T-th entry, so the re-rank's bounds hold), and
``partial_distances`` asks each candidate's own shard. R = 1 with F = 1 keeps the plain worker.
"""
from __future__ import annotations

import os

import numpy as np

from sanny.workers import Worker, WorkerSite
from sanny.workers.errors import InvalidArgument, WorkerUnavailable
from sanny.workers.kernels import topk_rows

from .fanout import FanOut, in_process
from .replicas import Cell


class ShardLog:
    """The coordinator's log as shard ``r`` of ``R`` sees it: its rows only, in local ids."""

    def __init__(self, log, R: int, r: int):
        self._log, self.R, self.r = log, R, r

    @property
    def seq(self) -> int:
        return self._log.seq

    def since(self, rank: int, after: int):
        recs = self._log.since(rank, after)
        if recs is None:
            return None
        out = []
        for seq, old, ids, xs in recs:
            old = old[old % self.R == self.r] // self.R
            if ids is not None:
                mine = ids % self.R == self.r
                ids, xs = (ids[mine] // self.R, xs[mine]) if mine.any() else (None, None)
            if len(old) or ids is not None:
                out.append((seq, old, ids, xs))
        return out


class GridColumn(Worker):
    """One subspace group over R row shards x F replicas."""

    def __init__(self, spec, cells: list[Cell]):
        self.spec, self.cells, self.R = spec, cells, len(cells)
        self.in_process = all(in_process(w) for c in cells for w in c.replicas)
        self._shards = FanOut(threads=self.R)                           # one call per cell
        self._replicas = FanOut(threads=self.R * len(cells[0].replicas))  # inside cells: no nesting

    def _each(self, items, fn) -> list:
        return self._shards.each(items, fn) if not self.in_process else [fn(x, i) for i, x in enumerate(items)]

    def _each_replica(self, items, fn) -> list:
        return self._replicas.each(items, fn) if not self.in_process else [fn(x, i) for i, x in enumerate(items)]

    # -- routing -------------------------------------------------------------------------
    def _split(self, ids: np.ndarray):
        """``(shard, mask, local ids)`` for every shard that holds some of ``ids``."""
        ids = np.asarray(ids, np.int64)
        shard = ids % self.R
        return [(r, m, ids[m] // self.R) for r in range(self.R) if (m := shard == r).any()]

    def _write(self, ids, fn) -> None:
        parts = self._split(ids)
        self._each([self.cells[r] for r, _, _ in parts],
                   lambda cell, j: cell.write(lambda w: fn(w, parts[j][1], parts[j][2]), self._each_replica))

    def insert(self, ids, slices) -> None:
        slices = np.asarray(slices, np.float32)
        self._write(ids, lambda w, m, local: w.insert(local, slices[m]))

    def remove(self, ids) -> None:
        self._write(ids, lambda w, m, local: w.remove(local))

    def build(self, optimize: bool = False) -> None:
        self._each(self.cells, lambda cell, r: cell.write(lambda w: w.build(optimize), self._each_replica))

    # -- reads ---------------------------------------------------------------------------
    def search(self, queries, T, params=None):
        m = len(queries)
        parts = self._each(self.cells, lambda cell, r: cell.read(lambda w: w.search(queries, T, params), m))
        if self.R == 1:
            return parts[0]
        ids = np.concatenate([np.where(i >= 0, i * self.R + r, -1) for r, (i, _) in enumerate(parts)], axis=2)
        d = np.concatenate([p[1] for p in parts], axis=2)
        g, m, n = d.shape
        pos, dd = topk_rows(d.reshape(g * m, n), int(T))
        out = np.where(pos >= 0, np.take_along_axis(ids.reshape(g * m, n), np.maximum(pos, 0), 1), -1)
        return out.reshape(g, m, -1), dd.reshape(g, m, -1)

    def partial_distances(self, queries, candidate_ids) -> np.ndarray:
        cand = np.asarray(candidate_ids, np.int64)
        out = np.full(cand.shape, np.inf, np.float32)
        valid = cand >= 0

        def one(cell, r):
            mine = valid & (cand % self.R == r)
            if mine.any():
                local = np.where(mine, cand // self.R, -1)
                out[mine] = cell.read(lambda w: w.partial_distances(queries, local), len(queries))[mine]

        self._each(self.cells, one)
        return out

    # -- persistence ---------------------------------------------------------------------
    def save_blocker(self) -> str | None:
        down = [c.name for c in self.cells if c.state != "ready"]
        # a snapshot must name a save of every replica; the WAL keeps everything meanwhile
        return f"cannot checkpoint while replicas of cells {down} are down" if down else None

    def save(self, path: str) -> None:
        blocked = self.save_blocker()
        if blocked:
            raise WorkerUnavailable(blocked)
        self._each(self.cells, lambda cell, r: [w.save(_dir(path, r, f)) for f, w in enumerate(cell.replicas)])

    def committed(self) -> None:
        for c in self.cells:
            c.each_replica(lambda w: w.committed())

    def load(self, path: str) -> None:
        self._each(self.cells, lambda cell, r: [w.load(_dir(path, r, f)) for f, w in enumerate(cell.replicas)])

    def stats(self) -> dict:
        """Counts and memory (one live replica per cell), every cell's replicas and state;
        WorkerUnavailable when a cell has no replica left (health goes NOT_SERVING)."""
        cells = [c.stats() for c in self.cells]
        down = [c["cell"] for c in cells if c["state"] == "down"]
        if down:
            raise WorkerUnavailable(f"cells {down}: every replica is down")
        live = [next(r for r in c["replicas"] if r["up"] and "error" not in r) for c in cells]
        total = {k: sum(int(s.get(k, 0)) for s in live) for k in ("count", "index_bytes", "slice_bytes")}
        degraded = [f"cell {c['cell']}: {sum(not r['up'] for r in c['replicas'])} of {len(c['replicas'])} "
                    "replicas down" for c in cells if c["state"] != "ready"]
        return {"subspaces": list(self.spec.subspaces), "widths": list(self.spec.widths),
                "inner": self.spec.inner.kind, **total, "shards": self.R,
                "replicas": len(self.cells[0].replicas), "cells": cells,
                "state": "degraded" if degraded else "ready", "degraded": "; ".join(degraded)}

    def close(self) -> None:
        for c in self.cells:
            c.close()
        self._shards.close()
        self._replicas.close()


def summary(worker_stats: list) -> dict | None:
    """For ``sanny info``: the grid's shape and, per cell (shard x group), state, vectors and
    bytes of one replica; None for an index without row shards or replicas."""
    cols = [w for w in worker_stats if isinstance(w, dict) and "cells" in w]
    if not cols:
        return None
    cells = [[f"{c['cell']} {c['state']} " + ", ".join(
        f"{r.get('count', '?')} vectors {(r.get('index_bytes', 0) + r.get('slice_bytes', 0)) / 2**20:.1f} MiB"
        if r["up"] else "down" for r in c["replicas"]) for c in w["cells"]] for w in cols]
    return {"shape": f"{cols[0]['shards']} row shards x {len(cols)} subspace groups x {cols[0]['replicas']} replicas",
            "cells": [c for col in cells for c in col]}


def _dir(path: str, r: int, f: int) -> str:
    return os.path.join(path, f"shard-{r}", f"replica-{f}")


def column(factory, spec, site: WorkerSite, R: int):
    """The worker (or :class:`GridColumn`) for subspace group ``site.rank`` of an R-shard index;
    ``factory.replicas`` (default 1) is F, ``factory.shards`` (if set) must equal R."""
    F = int(getattr(factory, "replicas", 1) or 1)
    want = getattr(factory, "shards", None)
    if want is not None and int(want) != R:
        raise InvalidArgument("workers.shards", f"the index has {R} row shards (fixed at creation), "
                                                f"the [workers] config lays out {want}")
    if R == 1 and F == 1:
        return factory(spec, site)
    opts = getattr(factory, "cell_options", {})
    cells = []
    for r in range(R):
        log = ShardLog(site.log, R, r) if site.log is not None else None
        reps = [factory(spec, WorkerSite(site.rank, _dir(site.workdir, r, f), log, shard=r, replica=f))
                for f in range(F)]
        cells.append(Cell(reps, f"g{site.rank}.r{r}", **opts))
    return GridColumn(spec, cells)
