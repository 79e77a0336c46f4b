"""The vald.v1 services share the sanny.v1 server: same port, listed by reflection, bearer-token
auth applies to them; vald=False (or no vald-client-python) leaves them out."""
from __future__ import annotations

import grpc
import pytest
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from sanny.engine.vald import facade as vald_facade
from sanny.engine.api.server import run_server
from sanny.engine.api.service import SERVICE_NAME

from vald_fixtures import T, config, data, error, index, p, stubs, vec  # noqa: F401

VALD = {f"vald.v1.{s}" for s in ("Search", "Object", "Insert", "Update", "Upsert", "Remove")}


def test_reflection_lists_and_describes_the_vald_services(index):
    with run_server(index, "127.0.0.1:0", grace=1.0) as (_server, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        assert VALD | {SERVICE_NAME} <= set(db.get_services())
        fd = db.FindFileContainingSymbol("vald.v1.Search")
        assert {"Search", "SearchByID", "MultiSearch", "StreamSearch", "LinearSearch"} <= \
            {m.name for s in fd.service for m in s.method}


def test_bearer_token_applies_to_vald_calls(index):
    with run_server(index, "127.0.0.1:0", grace=1.0, token="s3cret") as (_server, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        v = stubs(ch)
        request = p.Insert.Request(vector=vec("a", data(1)[0]))
        assert error(v.insert.Insert, request).code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.RpcError) as e:
            list(v.insert.StreamInsert(iter([request]), timeout=T, metadata=[("authorization", "Bearer wrong")]))
        assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED and not index.exists(["a"])[0]
        auth = [("authorization", "Bearer s3cret")]
        assert v.insert.Insert(request, timeout=T, metadata=auth).uuid == "a"
        assert v.object.Exists(p.Object.ID(id="a"), timeout=T, metadata=auth).id == "a"


@pytest.mark.parametrize("how", ["vald=False", "package missing"])
def test_without_the_facade_vald_calls_are_unimplemented(index, monkeypatch, how):
    kw = {"vald": False} if how == "vald=False" else {}
    if how == "package missing":
        monkeypatch.setattr(vald_facade, "IMPORT_ERROR", ImportError("No module named 'vald'"))
    with run_server(index, "127.0.0.1:0", grace=1.0, **kw) as (_server, port), \
            grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        e = error(stubs(ch).search.Search, p.Search.Request(vector=data(1)[0].tolist(), config=config(1)))
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED
        assert not VALD & set(ProtoReflectionDescriptorDatabase(ch).get_services())
