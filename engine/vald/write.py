"""``vald.v1`` Insert, Update, Upsert and Remove over an Index (semantics in ``vald``).

A unary call, a Multi* call and each stream message all become one engine write (one WAL
record): a Multi* request is applied whole or not at all.
"""
from __future__ import annotations

import numpy as np
from vald.v1.payload import payload_pb2 as vpb
from vald.v1.vald import insert_pb2_grpc, remove_pb2_grpc, update_pb2_grpc, upsert_pb2_grpc

from sanny.workers.errors import AlreadyExists, InvalidArgument

from ..rpc.handlers import unary
from .facade import Facade, no_filters, stream


def _at(prefix: str, n: int, limits) -> list[str]:
    """Field prefixes: '' for a single request, 'requests[i].' for a Multi* one; a batch that
    is empty or over ``limits.max_keys`` (one id per request) is refused before any work."""
    if prefix and not n:
        raise InvalidArgument(prefix, "empty batch")
    limits.count(n, prefix or "requests")
    return [f"{prefix}[{i}]." if prefix else "" for i in range(n)]


def _no_repeats(ids: list[str], fields: list[str]) -> None:
    seen: dict[str, int] = {}
    for i, id_ in enumerate(ids):
        if id_ in seen:
            raise InvalidArgument(fields[i], f"{id_!r} is also requests[{seen[id_]}] (one write per id and request)")
        seen[id_] = i


class _Writes:
    """The shared path of the three vector writes: check every request, then one engine call."""

    def __init__(self, facade: Facade, op: str):
        self.f, self.index, self.op = facade, facade.index, op

    def apply(self, requests, prefix: str) -> list[str]:
        at = _at(prefix, len(requests), self.f.limits)
        ids, rows, strict = [], [], []
        for r, p in zip(requests, at):
            no_filters(r.config, "filters", prefix=f"{p}config")
            ids.append(self.f.id(r.vector.id, f"{p}vector.id"))
            rows.append(self.f.vector(r.vector.vector, f"{p}vector.vector"))
            strict.append(not r.config.skip_strict_exist_check)
        _no_repeats(ids, [f"{p}vector.id" for p in at])
        x = np.concatenate(rows)
        with self.index.write_lock():  # the same-vector check and the write see the same state
            if self.op in ("update", "upsert"):
                self._refuse_same_vector(ids, x, strict)
            getattr(self.index, self.op)(ids, x)
        return ids

    def _refuse_same_vector(self, ids, x, strict) -> None:
        """Vald's strict check: updating an id to the vector it already has is ALREADY_EXISTS.
        Update of a missing id is NOT_FOUND here (from ``get``), as it is in the engine."""
        if not self.index.config.keep_vectors:
            return  # no coordinator copy to compare with
        rows = [i for i, s in enumerate(strict) if s]
        if self.op == "upsert" and rows:
            present = self.index.exists([ids[i] for i in rows])
            rows = [i for i, p in zip(rows, present) if p]
        if not rows:
            return
        same = np.all(self.index.get([ids[i] for i in rows]) == x[rows], axis=1)
        if same.any():
            id_ = ids[rows[int(np.argmax(same))]]
            raise AlreadyExists(f"id {id_!r} already has this vector (set config.skip_strict_exist_check "
                                f"to write it anyway)")

    def one(self, request):
        return self.f.location(self.apply([request], "")[0])

    def multi(self, request):
        return vpb.Object.Locations(locations=[self.f.location(i) for i in self.apply(list(request.requests),
                                                                                         "requests")])

    def stream(self, requests, context):
        return _stream_locations(requests, context, self.one)


def _stream_locations(requests, context, one):
    return stream(requests, context, one, lambda loc: vpb.Object.StreamLocation(location=loc),
                  lambda st: vpb.Object.StreamLocation(status=st))


class ValdInsert(insert_pb2_grpc.InsertServicer):
    def __init__(self, facade: Facade):
        self.w = _Writes(facade, "insert")

    @unary
    def Insert(self, request, context):
        return self.w.one(request)

    @unary
    def MultiInsert(self, request, context):
        return self.w.multi(request)

    def StreamInsert(self, request_iterator, context):
        return self.w.stream(request_iterator, context)


class ValdUpdate(update_pb2_grpc.UpdateServicer):
    """Update, MultiUpdate, StreamUpdate (UpdateTimestamp: UNIMPLEMENTED)."""

    def __init__(self, facade: Facade):
        self.w = _Writes(facade, "update")

    @unary
    def Update(self, request, context):
        return self.w.one(request)

    @unary
    def MultiUpdate(self, request, context):
        return self.w.multi(request)

    def StreamUpdate(self, request_iterator, context):
        return self.w.stream(request_iterator, context)


class ValdUpsert(upsert_pb2_grpc.UpsertServicer):
    def __init__(self, facade: Facade):
        self.w = _Writes(facade, "upsert")

    @unary
    def Upsert(self, request, context):
        return self.w.one(request)

    @unary
    def MultiUpsert(self, request, context):
        return self.w.multi(request)

    def StreamUpsert(self, request_iterator, context):
        return self.w.stream(request_iterator, context)


class ValdRemove(remove_pb2_grpc.RemoveServicer):
    """Remove, MultiRemove, StreamRemove (RemoveByTimestamp: UNIMPLEMENTED)."""

    def __init__(self, facade: Facade):
        self.f, self.index = facade, facade.index

    def _apply(self, requests, prefix: str) -> list[str]:
        at = _at(prefix, len(requests), self.f.limits)
        ids = [self.f.id(r.id.id, f"{p}id.id") for r, p in zip(requests, at)]
        _no_repeats(ids, [f"{p}id.id" for p in at])
        self.index.remove(ids)  # NOT_FOUND (nothing removed) if any id is missing
        return ids

    def _one(self, request):
        return self.f.location(self._apply([request], "")[0])

    @unary
    def Remove(self, request, context):
        return self._one(request)

    @unary
    def MultiRemove(self, request, context):
        return vpb.Object.Locations(locations=[self.f.location(i) for i in self._apply(list(request.requests),
                                                                                          "requests")])

    def StreamRemove(self, request_iterator, context):
        return _stream_locations(request_iterator, context, self._one)
