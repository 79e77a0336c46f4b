"""Worker ports take a bearer token like the coordinator: every SubspaceWorker RPC without the
token (or with a wrong one) is UNAUTHENTICATED and changes nothing; the coordinator's worker
client sends the token from its [workers] table and the index works; health stays open."""
from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.v1 import worker_pb2 as pb
from sanny.v1 import worker_pb2_grpc as pb_grpc
from sanny.workers.grpc_server import run_server
from sanny.workers.transports import factory_from_config

from transport_helpers import dataset

TOKEN = "worker-secret"

EVERY_RPC = [("Configure", pb.WorkerConfigureRequest(lineage="evil")), ("Insert", pb.WorkerInsertRequest()),
             ("Remove", pb.WorkerRemoveRequest()), ("Search", pb.WorkerSearchRequest()),
             ("PartialDistances", pb.WorkerPartialDistancesRequest()), ("Build", pb.WorkerBuildRequest()),
             ("Save", pb.WorkerSaveRequest(tag="evil", seq=1)), ("Load", pb.WorkerLoadRequest(tag="x")),
             ("Stats", pb.WorkerStatsRequest())]


def test_every_worker_rpc_needs_the_token_and_the_coordinator_sends_it(tmp_path):
    x, q, keys = dataset(n=200)
    cfg = IndexConfig(dim=32, S=2, workers=1, inner=InnerParams(kind="exact"))
    with run_server(str(tmp_path / "w"), "127.0.0.1:0", token=TOKEN) as (_, port, host):
        table = {"transport": "grpc", "addresses": [f"127.0.0.1:{port}"], "token": TOKEN}
        ix = Index.create(str(tmp_path / "idx"), cfg, worker_factory=factory_from_config({"workers": table}))
        try:
            ix.insert(keys, x)
            before = host.call("stats")
            with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
                stub = pb_grpc.SubspaceWorkerStub(ch)
                for metadata in (None, (("authorization", "Bearer wrong"),)):
                    for name, request in EVERY_RPC:
                        with pytest.raises(grpc.RpcError) as err:
                            getattr(stub, name)(request, timeout=10, metadata=metadata)
                        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
                health = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10)
                assert health.status == health_pb2.HealthCheckResponse.SERVING
            after = host.call("stats")
            assert after["position"] == before["position"] and after["saves"] == before["saves"]
            got, _ = ix.search(x[:5], 1)
            assert list(got[:, 0]) == keys[:5]
        finally:
            ix.close(save=False)


def test_coordinator_token_is_required_on_its_workers_by_default(tmp_path, monkeypatch):
    """``sanny serve`` with a token and a grpc [workers] table without one sends its own."""
    from sanny.engine.api import serve_cli
    seen = {}
    monkeypatch.setattr(serve_cli, "worker_factory", lambda cfg: seen.setdefault("cfg", cfg) and None)
    monkeypatch.setattr(serve_cli, "open_index", lambda *a: (_ for _ in ()).throw(RuntimeError("stop here")))
    token = tmp_path / "t.txt"
    token.write_text("tok\n")
    conf = tmp_path / "c.toml"
    conf.write_text(f'[server]\ntoken_file = "{token}"\n[workers]\ntransport = "grpc"\naddresses = ["127.0.0.1:1"]\n')
    import argparse
    p = argparse.ArgumentParser()
    serve_cli.register(p.add_subparsers())
    args = p.parse_args(["serve", "--index", str(tmp_path / "i"), "--config", str(conf)])
    with pytest.raises(RuntimeError, match="stop here"):
        serve_cli.cmd_serve(args)
    assert seen["cfg"]["workers"]["token"] == "tok"
