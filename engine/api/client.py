"""Python client of the ``sanny.v1`` service, numpy in and out, mirroring :class:`Index`.

    with Client("127.0.0.1:50051", token=...) as c:
        c.insert(["a", "b"], np.random.rand(2, 128))
        keys, dists = c.search(queries, k=10)      # (m, k) object / float32, None / inf padded

Errors arrive as the engine's exceptions, so code written against ``Index`` works against a
server: ``InvalidArgument``, ``NotFound``, ``AlreadyExists``, ``IndexCorrupt`` as they are;
transport failures as ``SannyError`` subclasses that are also ``grpc.RpcError`` (``code()`` /
``details()`` kept): ``ServiceUnavailable`` (a ``WorkerUnavailable``: no server at the address,
or a worker down), ``ServiceDeadlineExceeded`` (a ``DeadlineExceeded``), ``ServiceError``
(UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED, ...). Never a raw grpc error.
"""
from __future__ import annotations

import re

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sanny.v1 import sanny_pb2 as pb
from sanny.v1 import sanny_pb2_grpc as pb_grpc
from sanny.workers.errors import DeadlineExceeded, SannyError, WorkerUnavailable
from sanny.workers.tls import channel_credentials

from ..rpc import status
from . import wire

_UNSET = object()


def _keys(keys) -> list[str]:
    return [keys] if isinstance(keys, str) else list(keys)


def _enum_name(enum, number: int) -> str:
    """``WORKER_STATE_SERVING`` -> ``SERVING``."""
    prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
    return enum.values_by_number[number].name.removeprefix(prefix)


def _to_dict(msg) -> dict:
    """A message as plain Python values (ints stay ints, enums become their names)."""
    out = {}
    for f in msg.DESCRIPTOR.fields:
        v = getattr(msg, f.name)
        conv = ((lambda x, f=f: _enum_name(f.enum_type, x)) if f.enum_type else
                _to_dict if f.message_type else (lambda x: x))
        out[f.name] = [conv(x) for x in v] if f.is_repeated else conv(v)
    return out


class Client:
    """A connection to a Sanny server.

    token: bearer token (sent as ``authorization`` metadata). root_certificates: PEM bytes or
    a path; turns on TLS (``private_key`` / ``certificate_chain`` add a client certificate for
    mutual TLS). timeout: default deadline of every call, in seconds (None: no deadline).
    The client sets no message size limit of its own; the server's applies.
    """

    def __init__(self, address: str, token: str | None = None, root_certificates=None,
                 timeout: float | None = 30.0, *, private_key=None, certificate_chain=None,
                 options=()):
        opts = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1), *options]
        if root_certificates is not None:
            creds = channel_credentials(root_certificates, certificate_chain, private_key)
            self.channel = grpc.secure_channel(address, creds, options=opts)
        else:
            self.channel = grpc.insecure_channel(address, options=opts)
        self.address = address
        self.timeout = timeout
        self._stub = pb_grpc.SannyStub(self.channel)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()

    # -- plumbing ------------------------------------------------------------------------
    def _call(self, method, request, timeout=_UNSET):
        try:
            return method(request, timeout=self.timeout if timeout is _UNSET else timeout,
                          metadata=self._metadata)
        except grpc.RpcError as e:
            raise engine_error(e, self.address) from e

    def wait_ready(self, timeout: float = 10.0) -> "Client":
        """Block until the channel is connected (``ServiceUnavailable`` after ``timeout``)."""
        try:
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise ServiceUnavailable(grpc.StatusCode.UNAVAILABLE,
                                     f"{self.address}: no server answered within {timeout} s") from None
        return self

    def health(self, service: str = "", timeout=_UNSET) -> str:
        """``SERVING`` / ``NOT_SERVING`` / ... from the standard health service."""
        stub = health_pb2_grpc.HealthStub(self.channel)
        r = self._call(stub.Check, health_pb2.HealthCheckRequest(service=service), timeout)
        return health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- writes (each returns the number of keys written) --------------------------------
    def insert(self, keys, vectors, *, timeout=_UNSET) -> int:
        """Add new keys; ``AlreadyExists`` if any is present (nothing is written then)."""
        req = pb.InsertRequest(keys=_keys(keys), vectors=wire.to_matrix(vectors))
        return self._call(self._stub.Insert, req, timeout).count

    def upsert(self, keys, vectors, *, timeout=_UNSET) -> int:
        req = pb.UpsertRequest(keys=_keys(keys), vectors=wire.to_matrix(vectors))
        return self._call(self._stub.Upsert, req, timeout).count

    def update(self, keys, vectors, *, timeout=_UNSET) -> int:
        req = pb.UpdateRequest(keys=_keys(keys), vectors=wire.to_matrix(vectors))
        return self._call(self._stub.Update, req, timeout).count

    def remove(self, keys, *, timeout=_UNSET) -> int:
        return self._call(self._stub.Remove, pb.RemoveRequest(keys=_keys(keys)), timeout).count

    def _stream(self, method, message, batches, timeout) -> int:
        requests = (message(keys=_keys(ks), vectors=wire.to_matrix(x)) for ks, x in batches)
        return self._call(method, requests, timeout).count

    def stream_insert(self, batches, *, timeout=_UNSET) -> int:
        """Bulk load over one stream: ``batches`` yields ``(keys, vectors)``; each batch is
        atomic and applied as it arrives (on an error, the batches before it stay written)."""
        return self._stream(self._stub.StreamInsert, pb.InsertRequest, batches, timeout)

    def stream_upsert(self, batches, *, timeout=_UNSET) -> int:
        return self._stream(self._stub.StreamUpsert, pb.UpsertRequest, batches, timeout)

    def stream_update(self, batches, *, timeout=_UNSET) -> int:
        return self._stream(self._stub.StreamUpdate, pb.UpdateRequest, batches, timeout)

    def stream_remove(self, key_batches, *, timeout=_UNSET) -> int:
        requests = (pb.RemoveRequest(keys=_keys(ks)) for ks in key_batches)
        return self._call(self._stub.StreamRemove, requests, timeout).count

    # -- search --------------------------------------------------------------------------
    @staticmethod
    def _options(k, T, epsilon, adaptive, T_max) -> dict:
        opts = {"k": int(k), "adaptive": bool(adaptive)}
        if T is not None:
            opts["candidates"] = int(T)
        if epsilon is not None:
            opts["epsilon"] = float(epsilon)
        if T_max is not None:
            opts["max_candidates"] = int(T_max)
        return opts

    def search(self, queries, k: int = 10, T: int | None = None, epsilon: float | None = None,
               adaptive: bool = False, T_max: int | None = None, *, timeout=_UNSET):
        """``(keys[m, k], distances[m, k])``, as :meth:`Index.search`."""
        req = pb.SearchRequest(queries=wire.to_matrix(queries), **self._options(k, T, epsilon, adaptive, T_max))
        return wire.from_neighbors(self._call(self._stub.Search, req, timeout).results, k)

    def search_by_key(self, keys, k: int = 10, T: int | None = None, epsilon: float | None = None,
                      adaptive: bool = False, T_max: int | None = None, exclude_self: bool = False,
                      *, timeout=_UNSET):
        """Neighbours of stored vectors; ``exclude_self`` drops each key from its own row."""
        req = pb.SearchByKeyRequest(keys=_keys(keys), exclude_self=exclude_self,
                                    **self._options(k, T, epsilon, adaptive, T_max))
        return wire.from_neighbors(self._call(self._stub.SearchByKey, req, timeout).results, k)

    def stream_search(self, query_batches, k: int = 10, T: int | None = None,
                      epsilon: float | None = None, adaptive: bool = False, T_max: int | None = None,
                      *, timeout=_UNSET):
        """One bidirectional stream: yields ``(keys, distances)`` per batch of queries, in order;
        a bad batch raises its error (which ends the iteration)."""
        opts = self._options(k, T, epsilon, adaptive, T_max)
        requests = (pb.SearchRequest(queries=wire.to_matrix(q), **opts) for q in query_batches)
        responses = self._stub.StreamSearch(requests, timeout=self.timeout if timeout is _UNSET else timeout,
                                            metadata=self._metadata)
        try:
            for r in responses:
                if r.HasField("status"):
                    code = next(c for c in grpc.StatusCode if c.value[0] == r.status.code)
                    raise ServiceError(code, r.status.message)  # mapped below, like a failed call
                yield wire.from_neighbors(r.response.results, k)
        except grpc.RpcError as e:
            raise engine_error(e, self.address) from e
        finally:
            responses.cancel()

    # -- reads ---------------------------------------------------------------------------
    def get(self, keys, *, timeout=_UNSET) -> np.ndarray:
        """Stored vectors ``[n, dim]``; ``NotFound`` for a missing key."""
        r = self._call(self._stub.GetVector, pb.GetVectorRequest(keys=_keys(keys)), timeout)
        return wire.from_matrix(r.vectors, "vectors")

    def exists(self, keys, *, timeout=_UNSET) -> np.ndarray:
        r = self._call(self._stub.Exists, pb.ExistsRequest(keys=_keys(keys)), timeout)
        return np.array(r.exists, dtype=bool)

    def info(self, *, timeout=_UNSET) -> dict:
        """count, dim, subspaces (S), metric, trained, wal_seq, ..., workers (per-worker state)."""
        return _to_dict(self._call(self._stub.IndexInfo, pb.IndexInfoRequest(), timeout))

    def compact(self, *, timeout=_UNSET) -> list[dict]:
        """Merge every worker's segments into one graph each now (``Index.compact``); returns the
        workers' info after it. Pass a ``timeout`` that fits a whole rebuild."""
        return _to_dict(self._call(self._stub.Compact, pb.CompactRequest(), timeout))["workers"]

    def save(self, *, timeout=_UNSET) -> int:
        """Checkpoint the index on the server; returns the WAL sequence number it covers."""
        return self._call(self._stub.Save, pb.SaveRequest(), timeout).wal_seq

    def __len__(self) -> int:
        return self.info()["count"]


class ServiceError(SannyError, status.RpcFailure):
    """A call the server refused or could not answer, with the gRPC ``code()`` and ``details()``."""


class ServiceUnavailable(ServiceError, WorkerUnavailable):
    """No server at the address (is ``sanny serve`` running?), or a worker behind it is down."""


class ServiceDeadlineExceeded(ServiceError, DeadlineExceeded):
    """The call's timeout passed."""


def engine_error(e: grpc.RpcError, address: str) -> BaseException:
    """The engine exception for a failed call (see the module docstring)."""
    mapped = status.from_rpc_error(e)
    if mapped is not e:
        return mapped
    code = e.code() if callable(getattr(e, "code", None)) else grpc.StatusCode.UNKNOWN
    details = " ".join(str(e.details() if callable(getattr(e, "details", None)) else e).split())
    cls = {grpc.StatusCode.UNAVAILABLE: ServiceUnavailable,
           grpc.StatusCode.DEADLINE_EXCEEDED: ServiceDeadlineExceeded}.get(code, ServiceError)
    if cls is ServiceUnavailable and "connect" in details:
        details += " (is a server running there?)"
    return cls(code, f"{address}: {details}")
