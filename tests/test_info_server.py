"""``sanny info --server ADDR`` shows a running server's index and worker columns (its grid,
with a degraded cell named) over gRPC; ``sanny info DIR`` on the served directory points there."""
from __future__ import annotations

import json

import numpy as np

from sanny.engine import Index, IndexConfig, InnerParams

from cli_helpers import run
from service_fixtures import served


def test_info_of_a_running_server(tmp_path):
    root = str(tmp_path / "idx")
    ix = Index.create(root, IndexConfig(dim=8, S=4, workers=2, shards=2, inner=InnerParams(kind="exact")))
    ix.insert([f"k{i}" for i in range(30)], np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32))
    try:
        with served(ix) as port:
            p = run("info", "--server", f"127.0.0.1:{port}", timeout=120)
            assert p.returncode == 0, p.stderr
            assert "count    30" in p.stdout and "wal seq" in p.stdout
            workers = [ln for ln in p.stdout.splitlines() if ln.startswith("worker ")]
            assert len(workers) == 2 and all("serving" in w and "30 vectors" in w for w in workers), p.stdout
            as_json = json.loads(run("info", "--server", f"127.0.0.1:{port}", "--json", timeout=120).stdout)
            assert as_json["count"] == 30 and len(as_json["workers"]) == 2
            local = run("info", root, timeout=120)  # the directory is held by the server
            assert local.returncode == 2 and "sanny info --server" in local.stderr, local.stderr
    finally:
        ix.close(save=False)


def test_info_needs_a_directory_or_a_server():
    p = run("info", timeout=120)
    assert p.returncode == 2 and "--server" in p.stderr and "Traceback" not in p.stderr
