"""One interface over the two places an index can be: a running ``sanny serve`` reached with
the Python :class:`Client` (its token passes through) or an index directory opened in this
process (:class:`Index`). The page asks it for neighbours, stored vectors and a one-glance
summary; every failure stays an engine exception, which the app turns into a message.
"""
from __future__ import annotations

import numpy as np

from sanny.workers.errors import AlreadyExists, InvalidArgument

from ..grid import summary as grid_summary

INFO_TIMEOUT = 5.0  # a page must not wait two minutes to learn that no server answers


class Backend:
    def __init__(self, target, where: str):
        self.target, self.where = target, where
        self.remote = hasattr(target, "address")

    def close(self) -> None:
        self.target.close()

    def search(self, x: np.ndarray, k: int, T: int | None = None) -> list[tuple[str, float]]:
        keys, dist = self.target.search(np.asarray(x, np.float32).reshape(1, -1), k=k, T=T)
        return _hits(keys[0], dist[0])

    def search_key(self, key: str, k: int, T: int | None = None) -> list[tuple[str, float]] | None:
        """Neighbours of a stored key's vector; None when the index keeps no full vectors here
        (the caller then extracts the key's image file instead). ``NotFound`` if absent."""
        if self.remote:
            keys, dist = self.target.search_by_key([key], k=k, T=T)
            return _hits(keys[0], dist[0])
        try:
            x = self.target.get([key])
        except InvalidArgument:
            if self.target.config.keep_vectors:
                raise
            return None
        return self.search(x[0], k, T)

    def insert(self, key: str, x: np.ndarray) -> bool:
        """Add ``key``; False if it is already there (same content: keys are content hashes)."""
        try:
            self.target.insert([key], np.asarray(x, np.float32).reshape(1, -1))
            return True
        except AlreadyExists:
            return False

    def dim(self) -> int:
        return int(self.target.info(timeout=INFO_TIMEOUT)["dim"] if self.remote else self.target.config.dim)

    def count(self) -> int:
        return int(self.target.info(timeout=INFO_TIMEOUT)["count"] if self.remote else len(self.target))

    def info(self) -> dict:
        """``{backend, ok, health, count, dim, metric, S, inner, workers, grid?, segments?}``;
        ``ok`` False with the reason in ``health`` when the index cannot be reached."""
        try:
            out = self._remote_info() if self.remote else self._embedded_info()
        except Exception as e:  # noqa: BLE001 - any failure is what the page must show
            return {"backend": self.where, "ok": False, "health": one_line(e)}
        return {"backend": self.where, "ok": True, **out}

    def _remote_info(self) -> dict:
        health = self.target.health(timeout=INFO_TIMEOUT)
        i = self.target.info(timeout=INFO_TIMEOUT)
        ws = i.get("workers", [])
        down = [w for w in ws if w.get("state") not in ("SERVING", "", None)]
        out = {"health": health, "count": i["count"], "dim": i["dim"], "metric": i["metric"],
               "S": i["subspaces"], "inner": ", ".join(sorted({w.get("inner", "") for w in ws} - {""})) or "?",
               "trained": i["trained"], "workers": f"{len(ws)}" + (f" ({len(down)} not serving)" if down else "")}
        return _extra(i, out)

    def _embedded_info(self) -> dict:
        i = self.target.info()
        c = i["config"]
        ws = i.get("workers", [])
        out = {"health": "open in this process", "count": i["count"], "dim": c["dim"], "metric": c["metric"],
               "S": c["S"], "inner": c["inner"]["kind"], "trained": i["trained"], "workers": str(len(ws))}
        grid = grid_summary(ws)
        if grid:
            out["grid"] = grid["shape"] + "; " + "; ".join(grid["cells"])
        return _extra({**c, **i}, out)


def _extra(info: dict, out: dict) -> dict:
    """Fields some index kinds add (``segments``): shown when present, as they come."""
    for name in ("segments", "grid"):
        if name in info and name not in out and info[name] not in (None, [], {}):
            v = info[name]
            out[name] = f"{len(v)}" if isinstance(v, (list, tuple)) else str(v)[:300]
    return out


def _hits(keys, dist) -> list[tuple[str, float]]:
    return [(str(k), float(d)) for k, d in zip(keys, dist) if k is not None]


def one_line(e: BaseException) -> str:
    details = e.details() if callable(getattr(e, "details", None)) else None
    return " ".join(str(details or e or type(e).__name__).split())
