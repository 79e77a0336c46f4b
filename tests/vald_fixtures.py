"""Fixtures for the vald.v1 facade tests (tests/test_vald_*.py): a server from ``run_server`` on
a free loopback port and the official ``vald-client-python`` stubs on it. Every call carries a
deadline and every server is stopped at teardown."""
from __future__ import annotations

import types

import grpc
import numpy as np
import pytest

pytest.importorskip("vald.v1.vald.search_pb2_grpc", reason="vald-client-python not installed (extra 'vald')")

from vald.v1.payload import payload_pb2 as p  # noqa: E402
from vald.v1.vald import (insert_pb2_grpc, object_pb2_grpc, remove_pb2_grpc, search_pb2_grpc,  # noqa: E402
                          update_pb2_grpc, upsert_pb2_grpc)

from sanny.engine.api.server import run_server  # noqa: E402

from service_fixtures import CALL_TIMEOUT, DIM, data, index, make_index  # noqa: E402,F401 (fixtures)

T = CALL_TIMEOUT


def stubs(channel) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        search=search_pb2_grpc.SearchStub(channel), insert=insert_pb2_grpc.InsertStub(channel),
        update=update_pb2_grpc.UpdateStub(channel), upsert=upsert_pb2_grpc.UpsertStub(channel),
        remove=remove_pb2_grpc.RemoveStub(channel), object=object_pb2_grpc.ObjectStub(channel))


@pytest.fixture
def vald(index):
    """The official stubs on a server over ``index``: a namespace with .search, .insert,
    .update, .upsert, .remove, .object, .index and .port."""
    with run_server(index, "127.0.0.1:0", grace=1.0) as (_server, port):
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            ns = stubs(channel)
            ns.index, ns.port = index, port
            yield ns


def vec(id_: str, x) -> p.Object.Vector:
    return p.Object.Vector(id=id_, vector=np.asarray(x, np.float32).tolist())


def config(num: int = 5, **kw) -> p.Search.Config:
    kw.setdefault("radius", -1.0)
    kw.setdefault("epsilon", 0.1)
    return p.Search.Config(num=num, **kw)


def insert_all(v, x, prefix: str = "v") -> list[str]:
    """MultiInsert ``x`` as ids v0, v1, ..."""
    ids = [f"{prefix}{i}" for i in range(len(x))]
    v.insert.MultiInsert(p.Insert.MultiRequest(requests=[p.Insert.Request(vector=vec(i, row))
                                                         for i, row in zip(ids, x)]), timeout=T)
    return ids


def ids_and_distances(response) -> tuple[list[str], np.ndarray]:
    return [r.id for r in response.results], np.array([r.distance for r in response.results], np.float32)


def error(call, request, **kw) -> grpc.RpcError:
    """The error ``call(request)`` fails with (the test fails if it succeeds)."""
    kw.setdefault("timeout", T)
    with pytest.raises(grpc.RpcError) as err:
        call(request, **kw)
    return err.value
