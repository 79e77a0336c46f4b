"""``sanny bench-serve`` on a tiny generated dataset: the embedded and grpc2 topologies come up,
answer concurrent clients with the in-process engine's recall, the outputs are written, and
every process the benchmark started is gone afterwards."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from sanny.bench.procs import alive, descendants
from sanny.bench.serve_load import run_serve_bench
from sanny.bench.demo import make_features, write_hdf5


@pytest.fixture(scope="module")
def tiny_hdf5(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("data") / "tiny-32-euclidean.hdf5")
    train, test = make_features(2000, 32, n_test=100, seed=0)
    write_hdf5(path, train, test)
    return path


def test_embedded_and_grpc2_under_load(tiny_hdf5, tmp_path):
    before = set(descendants(os.getpid()))
    out = str(tmp_path / "out")
    # ~1 s per topology: 0.5 s of single queries, 0.5 s of 20-query requests, 2 clients each
    rows = run_serve_bench(tiny_hdf5, out, modes=["embedded", "grpc2"], clients=[2], seconds=0.5, S=4,
                           batch=20, distributed=["inproc", "embedded", "grpc2"])

    for name in ("serve.json", "serve.md", "serve.png"):
        assert os.path.getsize(os.path.join(out, name)) > 0
    assert not os.path.exists(os.path.join(out, "work"))  # indexes, worker dirs, logs removed
    with open(os.path.join(out, "serve.json")) as f:
        assert json.load(f) == rows
    table = open(os.path.join(out, "serve.md")).read()
    for mode in ("inproc", "embedded", "grpc2"):
        assert f"| {mode} |" in table

    seen = {(r["mode"], r["rerank"], r["request"]) for r in rows}
    assert seen == {(m, rr, q) for m in ("inproc", "embedded", "grpc2")
                    for rr in ("local", "distributed") for q in (1, 20)}
    inproc = {(r["rerank"], r["request"]): r for r in rows if r["mode"] == "inproc"}
    for r in rows:
        assert r["errors"] == 0, r["error"]
        assert r["clients"] == 2 and r["requests"] >= 2 and r["qps"] > 0
        assert 0 < r["p50_ms"] <= r["p99_ms"]
        assert r["recall"] >= 0.9
        base = inproc[r["rerank"], r["request"]]
        if r["answered"] == base["answered"] == 100:  # recall is over the queries answered in the
            assert r["recall"] == base["recall"]      # time budget: same queries, same index, same answers
        assert r["ratio"] > 0
        if r["mode"] == "grpc2":
            assert len(r["rss_workers_mb"]) == 2 and all(m > 0 for m in r["rss_workers_mb"])
        if r["mode"] != "inproc":
            assert r["rss_coordinator_mb"] > 0 and r["pids"]

    # every process started (served topologies, recorded by PID, and the build-time workers) is gone
    assert not [p for r in rows for p in r["pids"] if alive(p)]
    assert set(descendants(os.getpid())) <= before


def test_netns2_answers_like_embedded(tiny_hdf5, tmp_path):
    """``netns2``: two `sanny worker` processes, each in its own network namespace with its own
    address, and the coordinator in a third; same recall as the embedded service, every worker
    address inside the namespaces' subnet, the namespaces and processes gone afterwards."""
    from sanny.bench.netns import SUBNET, unavailable

    why = unavailable()
    if why:
        pytest.skip(f"network namespaces unavailable here: {why}")
    before = set(descendants(os.getpid()))
    # bounded by the query count (every test query answered once per phase), not by time
    rows = run_serve_bench(tiny_hdf5, str(tmp_path / "out"), modes=["embedded", "netns2"], clients=[2],
                           seconds=600, max_queries=100, S=4, batch=20, distributed=[])
    by = {(r["mode"], r["request"]): r for r in rows}
    assert {m for m, _ in by} == {"inproc", "embedded", "netns2"}
    for q in (1, 20):
        net, emb = by["netns2", q], by["embedded", q]
        assert net["errors"] == 0, net["error"]
        assert net["answered"] == emb["answered"] == 100 and net["recall"] == emb["recall"] >= 0.9
        assert net["qps"] > 0 and 0 < net["p50_ms"] <= net["p99_ms"]
        assert net["address"].startswith("unix:") and net["rss_coordinator_mb"] > 0
        assert len(net["worker_addresses"]) == 2 and all(m > 0 for m in net["rss_workers_mb"])
        assert all(a.startswith(f"{SUBNET}.") and a.rsplit(":", 1)[0] != f"{SUBNET}.1" for a in net["worker_addresses"])
    assert not [p for r in rows for p in r["pids"] if alive(p)]
    assert set(descendants(os.getpid())) <= before
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith(f"sanny{os.getpid()}-")]
