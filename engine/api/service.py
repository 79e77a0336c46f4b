"""The coordinator's gRPC servicer: ``sanny.v1.Sanny`` over an :class:`~sanny.engine.Index`.

Request fields are checked by the engine (``validate``) and errors become status codes in
``status``. The client's deadline bounds every worker call the request makes
(``workers.deadline``: remote calls past it are cancelled), and search batches run in
chunks of ``search_chunk`` queries with the deadline checked between chunks, so a call past
its deadline stops working instead of finishing the whole batch for nobody. Server wiring
(health, reflection, auth, TLS) is in ``server``.
"""
from __future__ import annotations


import numpy as np

from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc
from sanny.workers import LocalWorker
from sanny.workers.deadline import deadline as worker_deadline
from sanny.workers.errors import DeadlineExceeded, InvalidArgument

from .. import compaction, validate
from ..limits import Limits, MemoryBudget
from ..rpc import status
from ..rpc.handlers import check_alive, unary
from ..rpc.status import Abort
from . import wire

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["Sanny"].full_name  # "sanny.v1.Sanny"


def worker_infos(index) -> list[pb.WorkerInfo]:
    """Per-worker stats; a worker whose stats call fails is reported UNAVAILABLE."""
    out = []
    for w, st in zip(list(index.workers), index.worker_stats()):
        if isinstance(st, Exception):  # any failure means the worker is not serving
            out.append(pb.WorkerInfo(subspaces=w.spec.subspaces, widths=w.spec.widths,
                                     state=pb.WORKER_STATE_UNAVAILABLE, error=f"{type(st).__name__}: {st}"))
            continue
        out.append(pb.WorkerInfo(
            subspaces=st.get("subspaces", w.spec.subspaces), widths=st.get("widths", w.spec.widths),
            state=pb.WORKER_STATE_SERVING, count=int(st.get("count", 0)), inner=str(st.get("inner", "")),
            transport=str(st.get("transport") or getattr(w, "transport", None)
                          or ("local" if isinstance(w, LocalWorker) else type(w).__name__)),
            index_bytes=int(st.get("index_bytes", 0)), slice_bytes=int(st.get("slice_bytes", 0)),
            error=str(st.get("degraded", "")),  # a grid column serving with replicas down
            **_segment_fields(st)))
    return out


def _segment_fields(st: dict) -> dict:
    seg = compaction.summary([st])
    if seg is None:
        return {}
    return {"segments": seg["segments"], "sealed_rows": seg["sealed_rows"], "deleted_rows": seg["deleted_rows"],
            "growing_rows": seg["growing_rows"], "compaction": seg["compaction"],
            "compaction_cpu_seconds": seg["compaction_cpu_seconds"]}


class SannyService(pb_grpc.SannyServicer):
    def __init__(self, index, search_chunk: int = 512, limits: Limits | None = None,
                 budget: MemoryBudget | None = None):
        self.index = index
        self.search_chunk = max(1, int(search_chunk))
        self.limits = limits or Limits()
        self.budget = budget or MemoryBudget(self.limits.memory_budget_bytes)

    # -- writes --------------------------------------------------------------------------
    def _written(self, n: int) -> pb.WriteResponse:
        return pb.WriteResponse(count=n, wal_seq=self.index.seq)

    def _put(self, method, request) -> int:
        keys = list(request.keys)
        self.limits.keys(keys)
        method(keys, wire.from_matrix(request.vectors, "vectors"))
        return len(keys)

    def _remove(self, request) -> int:
        keys = list(request.keys)
        self.limits.keys(keys)
        self.index.remove(keys)
        return len(keys)

    @unary
    def Insert(self, request, context):
        return self._written(self._put(self.index.insert, request))

    @unary
    def Upsert(self, request, context):
        return self._written(self._put(self.index.upsert, request))

    @unary
    def Update(self, request, context):
        return self._written(self._put(self.index.update, request))

    @unary
    def Remove(self, request, context):
        return self._written(self._remove(request))

    def _stream(self, requests, context, apply) -> pb.WriteResponse:
        """Apply each streamed message as its own atomic batch, in order."""
        messages = keys = 0
        for request in requests:
            check_alive(context)
            try:
                keys += apply(request)
            except Exception as e:  # noqa: BLE001
                code, message = status.to_status(e)
                raise Abort(code, f"{message} (stream message {messages}; the earlier {messages} "
                                  f"message(s), {keys} key(s), stay written)") from e
            messages += 1
        return self._written(keys)

    @unary
    def StreamInsert(self, request_iterator, context):
        return self._stream(request_iterator, context, lambda r: self._put(self.index.insert, r))

    @unary
    def StreamUpsert(self, request_iterator, context):
        return self._stream(request_iterator, context, lambda r: self._put(self.index.upsert, r))

    @unary
    def StreamUpdate(self, request_iterator, context):
        return self._stream(request_iterator, context, lambda r: self._put(self.index.update, r))

    @unary
    def StreamRemove(self, request_iterator, context):
        return self._stream(request_iterator, context, self._remove)

    # -- search --------------------------------------------------------------------------
    def _options(self, request) -> tuple[int, dict]:
        """Checked search options (``status`` renames the engine's T / T_max to the proto's
        candidates / max_candidates in error messages)."""
        T = request.candidates if request.HasField("candidates") else None
        k, T = validate.k_and_T(request.k, T, self.index.config.T)
        opts = {"T": T, "adaptive": request.adaptive}
        if request.HasField("epsilon"):
            opts["epsilon"] = validate.epsilon(request.epsilon)
        if request.HasField("max_candidates"):
            opts["T_max"] = validate.T_max(request.max_candidates, T)
        return k, opts

    def _search(self, q: np.ndarray, k: int, opts: dict, context):
        """Search in chunks, checking the deadline between them. The whole batch is checked
        once, here (row numbers in errors are global); the chunks are not checked again."""
        q = self.index.prepare_queries(q)
        keys, dists = [], []
        for a in range(0, len(q), self.search_chunk):
            check_alive(context)
            ks, ds = self.index.search(q[a: a + self.search_chunk], k, **opts)
            keys.append(ks)
            dists.append(ds)
        return np.concatenate(keys), np.concatenate(dists)

    def _admit(self, queries: int, k: int, opts: dict):
        """The request's shape against the limits, then its estimated bytes held from the
        server's memory budget for the duration of the work (before any work is done)."""
        candidates = max(opts["T"], opts.get("T_max", 0) if opts.get("adaptive") else 0)
        need = self.limits.search(queries, k, candidates, self.index.config.S, self.search_chunk)
        return self.budget.hold(need)

    def _search_request(self, request, context) -> pb.SearchResponse:
        k, opts = self._options(request)
        with self._admit(int(request.queries.rows), k, opts):
            keys, dists = self._search(wire.from_matrix(request.queries, "queries"), k, opts, context)
            return pb.SearchResponse(results=wire.neighbors(keys, dists))

    @unary
    def Search(self, request, context):
        return self._search_request(request, context)

    @unary
    def SearchByKey(self, request, context):
        k, opts = self._options(request)
        self.limits.keys(list(request.keys))
        wanted = validate.keys(list(request.keys))
        with self._admit(len(wanted), k + 1, opts):
            return self._search_by_key(request, wanted, k, opts, context)

    def _search_by_key(self, request, wanted, k, opts, context):
        q = self.index.get(wanted)
        if not request.exclude_self:
            return pb.SearchResponse(results=wire.neighbors(*self._search(q, k, opts, context)))
        if k >= validate.MAX_K:
            raise InvalidArgument("k", f"must be below {validate.MAX_K} with exclude_self, got {k}")
        opts["T"] = max(opts["T"], k + 1)
        keys, dists = self._search(q, k + 1, opts, context)
        out_k = np.full((len(q), k), None, dtype=object)
        out_d = np.full((len(q), k), np.inf, dtype=np.float32)
        for i, own in enumerate(wanted):
            sel = [j for j in range(k + 1) if keys[i, j] != own][:k]
            out_k[i, : len(sel)], out_d[i, : len(sel)] = keys[i, sel], dists[i, sel]
        return pb.SearchResponse(results=wire.neighbors(out_k, out_d))

    def StreamSearch(self, request_iterator, context):
        for request in request_iterator:
            try:
                check_alive(context)
                with worker_deadline(context.time_remaining()):
                    response = self._search_request(request, context)
                yield pb.StreamSearchResponse(response=response)
            except (Abort, DeadlineExceeded) as e:  # deadline / cancellation end the stream
                status.abort(context, e)
            except Exception as e:  # noqa: BLE001 - a bad request gets its status; the stream goes on
                code, message = status.to_status(e)
                yield pb.StreamSearchResponse(status=pb.Status(code=code.value[0], message=message))

    # -- reads ---------------------------------------------------------------------------
    @unary
    def GetVector(self, request, context):
        keys = list(request.keys)
        self.limits.keys(keys)
        self.limits.rows(len(keys), self.index.config.dim, "keys")
        return pb.GetVectorResponse(keys=keys, vectors=wire.to_matrix(self.index.get(keys)))

    @unary
    def Exists(self, request, context):
        self.limits.keys(list(request.keys))
        return pb.ExistsResponse(exists=self.index.exists(list(request.keys)).tolist())

    @unary
    def IndexInfo(self, request, context):
        ix, cfg = self.index, self.index.config
        return pb.IndexInfoResponse(
            count=len(ix), dim=cfg.dim, subspaces=cfg.S, metric=cfg.metric, trained=ix.trained,
            wal_seq=ix.seq, space_dim=cfg.space_dim, keep_vectors=cfg.keep_vectors,
            default_candidates=cfg.T, default_epsilon=cfg.epsilon, workers=worker_infos(ix),
            max_k=validate.MAX_K, max_candidates=validate.MAX_T)

    @unary
    def Compact(self, request, context):
        self.index.compact()
        return pb.CompactResponse(workers=worker_infos(self.index))

    @unary
    def Save(self, request, context):
        self.index.save()
        return pb.SaveResponse(wal_seq=self.index.seq)
