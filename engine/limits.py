"""Bounded work per request, checked from the request's shape before any work is done.

A request's cost grows with its shape (queries x candidates per subspace, queries x k, keys),
not with its size on the wire: 512 queries with ``candidates=100000`` is a 0.26 MB message that
would need gigabytes. :class:`Limits` rejects such a request up front with an error that names
the limit (``InvalidArgument`` when the request can never be served, ``ResourceExhausted`` when
it asks for more than the server is configured to do), and :class:`MemoryBudget` bounds the
estimated bytes of all requests in flight on one server.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, fields

from sanny.workers.errors import InvalidArgument, SannyError

# bytes per unit of work, for the in-flight estimate: calibrated against the measured peak of
# real searches by bench/memory_estimate.py (its results and how to rerun them there)
CANDIDATE_BYTES = 128  # one (query, subspace, candidate) with S > 1: the workers' lists (12 B), then the
                       # union's sort, dedupe and bounds (measured 91-121 B for exact, hnsw, ngt)
SINGLE_BYTES = 48      # one (query, candidate) with S = 1 and T <= the index's size (measured 37 B)
PADDED_BYTES = 64      # ... with T over the index's size: rows padded with misses (measured 54 B)
NEIGHBOR_BYTES = 48    # one returned neighbour: key, distance, message overhead


class ResourceExhausted(SannyError):
    """A request over a configured limit, or more than the server's in-flight memory budget."""


@dataclass
class Limits:
    """All configurable (``sanny serve --limit NAME=VALUE`` / the ``[limits]`` config table)."""

    max_query_candidates: int = 20_000_000  # queries x max(candidates, max_candidates)
    max_query_k: int = 1_000_000            # queries x k
    max_key_bytes: int = 1024               # UTF-8 bytes of one key
    max_keys: int = 100_000                 # keys in one request
    max_response_bytes: int = 64 * 1024 * 1024  # estimated size of one response
    memory_budget_bytes: int = 512 * 1024 * 1024  # estimated bytes of all requests in flight

    @classmethod
    def from_dict(cls, d: dict) -> "Limits":
        names = {f.name for f in fields(cls)}
        bad = sorted(set(d) - names)
        if bad:
            raise InvalidArgument("limits", f"unknown limit(s) {bad}; known: {sorted(names)}")
        out = cls(**{k: int(v) for k, v in d.items()})
        for f in fields(out):
            if getattr(out, f.name) <= 0:
                raise InvalidArgument(f"limits.{f.name}", f"must be positive, got {getattr(out, f.name)}")
        return out

    def _over(self, name: str, value: int, what: str) -> None:
        limit = getattr(self, name)
        if value > limit:
            raise ResourceExhausted(f"{what} = {value:,} is over the server's limit {name} = {limit:,}")

    def keys(self, keys, field: str = "keys") -> None:
        """Keys per request and bytes per key."""
        self.count(len(keys), field)
        for i, k in enumerate(keys):
            self.key(k, f"{field}[{i}]")

    def count(self, n: int, field: str = "keys") -> None:
        """Keys (or Vald requests, one id each) in one request."""
        self._over("max_keys", n, f"{field}: number of keys")

    def key(self, key, field: str) -> None:
        """Bytes of one key (a Vald id too)."""
        n = len(key.encode("utf-8", "surrogatepass")) if isinstance(key, str) else len(key)
        if n > self.max_key_bytes:
            raise InvalidArgument(field, f"is {n:,} bytes, over the limit max_key_bytes = {self.max_key_bytes:,}")

    def search(self, queries: int, k: int, candidates: int, subspaces: int, chunk: int | None = None,
               size: int | None = None) -> int:
        """Check a search's shape; returns its estimated in-flight bytes (the candidates of one
        ``chunk`` of queries at a time, as the service searches, plus the whole response);
        ``size``: the index's vectors (None: unknown, the larger estimate of S = 1)."""
        self._over("max_query_candidates", queries * candidates, "queries x candidates")
        self._over("max_query_k", queries * k, "queries x k")
        response = queries * k * NEIGHBOR_BYTES
        self._over("max_response_bytes", response, "estimated response bytes (queries x k x "
                   f"{NEIGHBOR_BYTES})")
        rows = min(queries, chunk) if chunk else queries
        if subspaces > 1:
            per = subspaces * CANDIDATE_BYTES
        else:
            per = SINGLE_BYTES if size is not None and candidates <= size else PADDED_BYTES
        return rows * candidates * per + response

    def rows(self, rows: int, dim: int, field: str) -> int:
        """Vectors in a write or a response (``GetVector``); returns their bytes."""
        n = rows * dim * 4
        self._over("max_response_bytes", n, f"{field}: bytes of {rows:,} x {dim} float32")
        return n


class MemoryBudget:
    """A semaphore on estimated bytes: a request over the whole budget is refused at once; one
    that does not fit now waits up to ``wait`` seconds (bounded by its deadline), then is refused."""

    def __init__(self, total: int):
        self.total, self.used = int(total), 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, n: int, wait: float | None = 0.0):
        n = int(n)
        if n > self.total:
            raise ResourceExhausted(f"request needs an estimated {n:,} bytes, over the server's "
                                    f"memory_budget_bytes = {self.total:,}")
        with self._cond:
            if not self._cond.wait_for(lambda: self.used + n <= self.total, timeout=wait):
                raise ResourceExhausted(f"server busy: {self.used:,} of memory_budget_bytes = "
                                        f"{self.total:,} in use by other requests, this one needs {n:,}")
            self.used += n
        try:
            yield
        finally:
            with self._cond:
                self.used -= n
                self._cond.notify_all()
