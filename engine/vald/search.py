"""``vald.v1.Search`` and ``vald.v1.Object`` over an Index (semantics in ``vald``)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
import numpy as np
from vald.v1.payload import payload_pb2 as vpb
from vald.v1.vald import object_pb2_grpc, search_pb2_grpc

from sanny.workers.deadline import deadline as worker_deadline
from sanny.workers.errors import DeadlineExceeded, InvalidArgument, NotFound

from .. import validate
from ..index import Queries
from ..rpc.handlers import check_alive, unary
from ..rpc.status import Abort
from .facade import MAX_LINEAR, Facade, no_filters, renamed, stream


@dataclass(frozen=True)
class Query:
    """A checked Search.Config."""
    k: int
    epsilon: float | None  # None: the index default
    radius: float | None   # None: unlimited
    min_num: int
    timeout: float | None  # seconds; None: only the call's deadline
    request_id: str


def search_config(cfg, field: str) -> Query:
    """``cfg`` (a Search.Config) checked, errors naming ``field``.num etc."""
    num = cfg.num
    if not 1 <= num <= validate.MAX_K:
        raise InvalidArgument(f"{field}.num", f"must be between 1 and {validate.MAX_K}, got {num}")
    epsilon = None
    if cfg.epsilon != 0:
        try:
            epsilon = validate.epsilon(cfg.epsilon)
        except InvalidArgument as e:
            raise renamed(e, f"{field}.epsilon") from None
    if np.isnan(cfg.radius):
        raise InvalidArgument(f"{field}.radius", "must be a number, got nan")
    if cfg.min_num > num:
        raise InvalidArgument(f"{field}.min_num", f"must be <= num ({num}), got {cfg.min_num}")
    if cfg.timeout < 0:
        raise InvalidArgument(f"{field}.timeout", f"must be >= 0 nanoseconds, got {cfg.timeout}")
    no_filters(cfg, "ingress_filters", "egress_filters", prefix=field)
    return Query(num, epsilon, cfg.radius if cfg.radius > 0 else None, cfg.min_num,
                 cfg.timeout / 1e9 if cfg.timeout else None, cfg.request_id)


class _Searcher:
    def __init__(self, facade: Facade):
        self.f = facade
        self.index = facade.index

    def _lookup(self, ids: list[str], fields: list[str]) -> np.ndarray:
        """Stored vectors of ``ids`` (repeats allowed) for SearchByID."""
        for id_, field in zip(ids, fields):
            self.f.id(id_, field)
        unique = list(dict.fromkeys(ids))
        try:
            x = self.index.get(unique)
        except InvalidArgument as e:  # e.g. an index without coordinator vectors
            raise renamed(e, fields[0]) from None
        row = {k: i for i, k in enumerate(unique)}
        return x[[row[k] for k in ids]]

    def _parse(self, requests, by_id: bool, prefix: str) -> tuple[list[Query], np.ndarray]:
        """Check every request before anything runs; ``prefix``: '' for a single request,
        'requests' for a Multi* one (fields then read ``requests[i].config.num``)."""
        if prefix and not requests:
            raise InvalidArgument(prefix, "empty batch")
        at = [f"{prefix}[{i}]." if prefix else "" for i in range(len(requests))]
        queries = [search_config(r.config, f"{p}config") for r, p in zip(requests, at)]
        if by_id:
            x = self._lookup([r.id for r in requests], [f"{p}id" for p in at])
        else:
            x = np.concatenate([self.f.vector(r.vector, f"{p}vector") for r, p in zip(requests, at)])
        return queries, x

    def _run(self, queries: list[Query], x: np.ndarray, linear: bool, context, prefix: str):
        """One Search.Response per query; queries sharing (k, epsilon) are searched as one
        batch, in chunks with the deadline checked between them."""
        if linear:
            n = len(self.index)
            if n > MAX_LINEAR:
                raise Abort(grpc.StatusCode.FAILED_PRECONDITION,
                            f"LinearSearch is exact only up to {MAX_LINEAR} vectors; the index holds {n} (use Search)")
        timeouts = [q.timeout for q in queries if q.timeout]
        timeout = min(timeouts) if timeouts else None
        groups: dict[tuple, list[int]] = {}
        for i, q in enumerate(queries):
            groups.setdefault((q.k, q.epsilon), []).append(i)
        keys = [None] * len(queries)
        dists = [None] * len(queries)
        need = 0
        for (k, _), rows in groups.items():
            T = max(len(self.index), k) if linear else self.index.config.T
            need += self.f.limits.search(len(rows), k, T, self.index.config.S, self.f.search_chunk)
        start = time.monotonic()
        with worker_deadline(timeout), self.f.budget.hold(need):
            for (k, epsilon), rows in groups.items():
                opts = {} if epsilon is None else {"epsilon": epsilon}
                if linear:
                    opts["T"] = max(len(self.index), k)
                for a in range(0, len(rows), self.f.search_chunk):
                    check_alive(context)
                    part = rows[a: a + self.f.search_chunk]
                    ks, ds = self.index.search(Queries(x[part]), k, **opts)  # checked in _parse
                    for j, i in enumerate(part):
                        keys[i], dists[i] = ks[j], ds[j]
        if timeout is not None and time.monotonic() - start > timeout:
            raise DeadlineExceeded(f"search took longer than config.timeout ({timeout:g} s)")
        return [self._response(q, keys[i], dists[i], f"{prefix}[{i}]: " if prefix else "")
                for i, q in enumerate(queries)]

    @staticmethod
    def _response(q: Query, keys, dists, where: str):
        results = [vpb.Object.Distance(id=k, distance=float(d)) for k, d in zip(keys, dists)
                   if k is not None and (q.radius is None or d <= q.radius)]
        if not results:
            raise NotFound(f"{where}search result is empty")
        if len(results) < q.min_num:
            raise NotFound(f"{where}search found {len(results)} result(s), fewer than config.min_num = {q.min_num}")
        return vpb.Search.Response(request_id=q.request_id, results=results)

    def one(self, request, by_id: bool, linear: bool, context):
        queries, x = self._parse([request], by_id, "")
        return self._run(queries, x, linear, context, "")[0]

    def multi(self, request, by_id: bool, linear: bool, context):
        queries, x = self._parse(list(request.requests), by_id, "requests")
        return vpb.Search.Responses(responses=self._run(queries, x, linear, context, "requests"))

    def stream(self, requests, by_id: bool, linear: bool, context):
        return stream(requests, context, lambda r: self.one(r, by_id, linear, context),
                      lambda resp: vpb.Search.StreamResponse(response=resp),
                      lambda st: vpb.Search.StreamResponse(status=st))


class ValdSearch(search_pb2_grpc.SearchServicer):
    def __init__(self, facade: Facade):
        self.s = _Searcher(facade)

    @unary
    def Search(self, request, context):
        return self.s.one(request, False, False, context)

    @unary
    def SearchByID(self, request, context):
        return self.s.one(request, True, False, context)

    @unary
    def MultiSearch(self, request, context):
        return self.s.multi(request, False, False, context)

    @unary
    def MultiSearchByID(self, request, context):
        return self.s.multi(request, True, False, context)

    def StreamSearch(self, request_iterator, context):
        return self.s.stream(request_iterator, False, False, context)

    def StreamSearchByID(self, request_iterator, context):
        return self.s.stream(request_iterator, True, False, context)

    @unary
    def LinearSearch(self, request, context):
        return self.s.one(request, False, True, context)

    @unary
    def LinearSearchByID(self, request, context):
        return self.s.one(request, True, True, context)

    @unary
    def MultiLinearSearch(self, request, context):
        return self.s.multi(request, False, True, context)

    @unary
    def MultiLinearSearchByID(self, request, context):
        return self.s.multi(request, True, True, context)

    def StreamLinearSearch(self, request_iterator, context):
        return self.s.stream(request_iterator, False, True, context)

    def StreamLinearSearchByID(self, request_iterator, context):
        return self.s.stream(request_iterator, True, True, context)


class ValdObject(object_pb2_grpc.ObjectServicer):
    """Exists, GetObject, StreamGetObject (StreamListObject and GetTimestamp: UNIMPLEMENTED)."""

    def __init__(self, facade: Facade):
        self.f, self.index = facade, facade.index

    @unary
    def Exists(self, request, context):
        id_ = self.f.id(request.id, "id")
        if not self.index.exists([id_])[0]:
            raise NotFound(f"id {id_!r} not found")
        return vpb.Object.ID(id=id_)

    def _get(self, request):
        id_ = self.f.id(request.id.id, "id.id")
        no_filters(request, "filters", prefix="")
        try:
            x = self.index.get([id_])[0]
        except InvalidArgument as e:
            raise renamed(e, "id.id") from None
        return vpb.Object.Vector(id=id_, vector=x.tolist())

    @unary
    def GetObject(self, request, context):
        return self._get(request)

    def StreamGetObject(self, request_iterator, context):
        return stream(request_iterator, context, self._get, lambda v: vpb.Object.StreamVector(vector=v),
                      lambda st: vpb.Object.StreamVector(status=st))
