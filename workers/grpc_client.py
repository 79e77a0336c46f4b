"""GrpcWorker: the Worker interface over a ``sanny worker`` process (``SubspaceWorker`` service).

Every call has a deadline (see ``deadline.deadline``); a timed-out call is cancelled by gRPC. A
dead worker fails fast with UNAVAILABLE (``wait_for_ready`` is off), mapped to
:class:`WorkerUnavailable`; the channel retries the connection with a short backoff, so a
restarted worker is picked up again within about a second.
"""
from __future__ import annotations

import grpc

from .errors import SannyError, WorkerUnavailable
from sanny.v1 import worker_pb2 as pb
from sanny.v1 import worker_pb2_grpc as pb_grpc

from . import grpc_codec as codec
from .base import WorkerSpec
from .grpc_server import MAX_MESSAGE
from .remote import Pending, RemoteWorker, Stale
from .tls import bearer

CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE),
    ("grpc.max_send_message_length", MAX_MESSAGE),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.enable_retries", 0),  # retries are ours (catch-up), never blind re-sends
]


def _ints(v):
    """Struct numbers are doubles: give whole ones back as ints (counts, widths, bytes)."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [_ints(x) for x in v]
    if isinstance(v, dict):
        return {k: _ints(x) for k, x in v.items()}
    return v


class GrpcWorker(RemoteWorker):
    transport = "grpc"

    def __init__(self, spec: WorkerSpec, address: str, credentials: grpc.ChannelCredentials | None = None,
                 token: str | None = None, **kw):
        """``token``: bearer token the worker requires; ``kw``: ``rank``, ``log`` and the
        timeouts of :class:`RemoteWorker`."""
        super().__init__(spec, address, **kw)
        self.address = address
        self._auth = bearer(token) or ()
        self._channel = (grpc.secure_channel(address, credentials, options=CHANNEL_OPTIONS) if credentials
                         else grpc.insecure_channel(address, options=CHANNEL_OPTIONS))
        self._stub = pb_grpc.SubspaceWorkerStub(self._channel)

    def _request(self, method: str, kw: dict):
        spec = codec.spec_msg(kw["spec"]) if "spec" in kw else None
        if method == "configure":
            return self._stub.Configure, pb.WorkerConfigureRequest(spec=spec, lineage=kw["lineage"])
        if method == "insert":
            return self._stub.Insert, pb.WorkerInsertRequest(seq=kw["seq"], ids=codec.array(kw["ids"], "<i8"),
                                                             slices=codec.array(kw["slices"], "<f4"))
        if method == "remove":
            return self._stub.Remove, pb.WorkerRemoveRequest(seq=kw["seq"], ids=codec.array(kw["ids"], "<i8"))
        if method == "search":
            return self._stub.Search, pb.WorkerSearchRequest(queries=codec.array(kw["queries"], "<f4"), T=kw["T"],
                                                             params=codec.params_msg(kw["params"]))
        if method == "partial_distances":
            return self._stub.PartialDistances, pb.WorkerPartialDistancesRequest(
                queries=codec.array(kw["queries"], "<f4"), candidate_ids=codec.array(kw["candidate_ids"], "<i8"))
        if method == "build":
            return self._stub.Build, pb.WorkerBuildRequest(optimize=kw["optimize"])
        if method == "save":
            return self._stub.Save, pb.WorkerSaveRequest(tag=kw["tag"], seq=kw["seq"], keep=kw.get("keep") or ())
        if method == "load":
            return self._stub.Load, pb.WorkerLoadRequest(tag=kw["tag"], spec=spec)
        if method == "release":
            return self._stub.Release, pb.WorkerReleaseRequest(keep=kw["keep"])
        if method == "stats":
            return self._stub.Stats, pb.WorkerStatsRequest()
        raise ValueError(f"unknown worker method {method!r}")

    def _metadata(self, epoch: str | None, kw: dict):
        secret = kw.get("secret") or kw.get("proof")  # the lineage owner's secret: Configure, Save, Release
        return ((((codec.EPOCH_HEADER, epoch),) if epoch else ()) + self._auth
                + (((codec.SECRET_HEADER, secret),) if secret else ()) or None)

    def _begin(self, method: str, timeout: float, epoch: str | None, kw: dict) -> Pending:
        rpc, req = self._request(method, kw)
        fut = rpc.future(req, timeout=timeout, metadata=self._metadata(epoch, kw), wait_for_ready=False)
        return _Future(fut, lambda e: self._error(method, e), lambda r: self._decode(method, r))

    def _invoke(self, method: str, timeout: float, epoch: str | None, kw: dict):
        rpc, req = self._request(method, kw)
        md = self._metadata(epoch, kw)
        try:
            # a status call may wait for a (re)connecting worker; everything else fails fast
            reply = rpc(req, timeout=timeout, metadata=md, wait_for_ready=method == "stats")
        except grpc.RpcError as e:
            raise self._error(method, e) from None
        return self._decode(method, reply)

    def _error(self, method: str, e: grpc.RpcError) -> Exception:
        code, details = e.code(), e.details()
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return TimeoutError(details)
        if code == grpc.StatusCode.ABORTED:
            return Stale(details)
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
            return WorkerUnavailable(f"worker {self.address} is unavailable ({method}): {details}")
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            return ValueError(f"worker {self.address}: {details}")
        if code == grpc.StatusCode.NOT_FOUND:
            return FileNotFoundError(f"worker {self.address}: {details}")
        return SannyError(f"worker {self.address} failed {method}: {code.name}: {details}")

    @staticmethod
    def _decode(method: str, reply):
        if method == "search":
            return codec.unarray(reply.ids, "<i8", "ids", 3), codec.unarray(reply.dists, "<f4", "dists", 3)
        if method == "partial_distances":
            return codec.unarray(reply.dists, "<f4", "dists", 2)
        if method == "stats":
            return {"position": codec.position_dict(reply.position),
                    "spec": codec.spec_dict(reply.spec) if reply.HasField("spec") else None,
                    "stats": _ints(codec.unstruct(reply.stats)),
                    "saves": [{"tag": s.tag, "seq": s.seq, "lineage": s.lineage} for s in reply.saves]}
        return codec.position_dict(reply)

    def close(self) -> None:
        self._channel.close()


class _Future(Pending):
    """A gRPC call future as a :class:`~.remote.Pending`."""

    def __init__(self, fut, error, decode):
        self._fut, self._error, self._decode = fut, error, decode

    def done(self, timeout: float) -> bool:
        try:
            self._fut.result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        except (grpc.RpcError, grpc.FutureCancelledError):
            pass
        return True

    def result(self):
        try:
            return self._decode(self._fut.result())
        except grpc.FutureCancelledError:
            raise WorkerUnavailable("call cancelled") from None
        except grpc.RpcError as e:
            raise self._error(e) from None

    def cancel(self) -> None:
        self._fut.cancel()
