"""bench.mixed_load: clients in threads or in their own processes drive a served index with
searches and upserts; every request is counted, none fails, and every upsert is in the index."""
from __future__ import annotations

import numpy as np
import pytest

from sanny.bench.mixed_load import run

from conftest import keys_for


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "processes"])
def test_mixed_load_counts_every_request_and_writes_land(make_index, data32, processes):
    x, _ = data32
    ix = make_index(dim=32, S=2)
    ix.insert(keys_for(500), x[:500])
    ix.build()
    before = ix._coalescer.batches
    # bounded by count (the time bound is far away): 2 clients x 40 requests
    r = run(ix, clients=2, seconds=600, read=0.5, max_requests=40, processes=processes)
    assert r["errors"] == 0 and r["search"] + r["write"] == 80
    assert r["search"] > 0 and r["write"] > 0 and r["searches_per_s"] > 0
    assert ix._coalescer.batches - before >= 2  # warm-up search per client + measured ones
    written = [f"w{c}-{i}" for c in range(2) for i in range(40)]
    present = [k for k, e in zip(written, ix.exists(written)) if e]
    assert len(present) == r["write"]  # a client's upsert keys are distinct within 40 requests


def test_a_running_server_as_target_with_its_cpu_and_a_rerendered_report(tmp_path):
    """``--save-data`` + ``experiments/mixed_serve.py`` + ``--target``: the harness drives a server in
    another process, reads that process's CPU, and the report is rendered again from the json."""
    import json
    import os
    import subprocess
    import sys

    from experiments import mixed_serve
    from sanny.bench import mixed_load

    npy = tmp_path / "x.npy"
    mixed_load.main(["--save-data", str(npy), "--n", "300", "--dim", "16"])
    serve = mixed_serve.__file__
    srv = subprocess.Popen([sys.executable, serve, str(npy), "--S", "2"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()  # blocks until it serves (or it died: '')
        assert line[:1] == ["PORT"], line
        port, pid = int(line[1]), int(line[3])
        assert pid == srv.pid
        out = tmp_path / "res"
        mixed_load.main(["--target", f"one=127.0.0.1:{port},{pid}", "--target", f"two=127.0.0.1:{port}",
                         "--dim", "16", "--clients", "2", "--seconds", "600", "--max-requests", "30", "--repeats", "2",
                         "--out", str(out)])
    finally:
        srv.stdin.close()
        srv.wait(60)
    data = json.loads((out / "mixed-load.json").read_text())
    rows = {r["path"]: r["runs"] for r in data["rows"]}
    assert set(rows) == {"one", "two"} and all(len(v) == 2 for v in rows.values())
    assert all(r["errors"] == 0 and r["search"] > 0 for v in rows.values() for r in v)
    assert all(r["server_cpu_ms"] > 0 for r in rows["one"])  # the server's own process, by pid
    assert data["provenance"]["argv"] and "commit" in data["provenance"]
    md = (out / "mixed-load.md").read_text()
    (out / "mixed-load.md").unlink()
    assert mixed_load.main(["--report", str(out)]) is None and (out / "mixed-load.md").read_text() == md
    assert srv.returncode == 0


def test_null_server_is_the_servicer_with_an_engine_that_does_nothing(tmp_path):
    """``mixed_serve.py --null`` (the transport ceiling): searches get the constant answer
    through the whole servicer (keys of ids 0-9), writes are acknowledged and not applied,
    and bad requests still get the servicer's INVALID_ARGUMENT."""
    import os
    import subprocess
    import sys

    from experiments import mixed_serve
    from sanny.bench import mixed_load
    from sanny.engine.api.client import Client
    from sanny.workers.errors import InvalidArgument

    npy = tmp_path / "x.npy"
    mixed_load.main(["--save-data", str(npy), "--n", "300", "--dim", "16"])
    serve = mixed_serve.__file__
    srv = subprocess.Popen([sys.executable, serve, str(npy), "--S", "2", "--null"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        line = srv.stdout.readline().split()
        assert line[:1] == ["PORT"], line
        with Client(f"127.0.0.1:{line[1]}") as cl:
            q = np.load(npy)[:3] + 5.0
            keys, _d = cl.search(q, 4)
            assert [list(r) for r in keys] == [["0", "1", "2", "3"]] * 3
            assert cl.upsert(["new"], q[:1]) == 1
            assert cl.info()["count"] == 300  # acknowledged, not applied
            with pytest.raises(InvalidArgument, match="queries"):
                cl.search(np.zeros((1, 5), np.float32), 4)
    finally:
        srv.stdin.close()
        srv.wait(60)
    assert srv.returncode == 0


def test_cpu_seconds_of_a_process_counts_its_work():
    import os

    from sanny.bench.procs import cpu_seconds

    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(2_000_000))  # some CPU work of this process
    assert cpu_seconds(os.getpid()) > before
    assert cpu_seconds(2 ** 22 + 12345) is None  # no such process


def test_table_gives_each_row_as_a_multiple_of_the_first_paired_by_repeat():
    from sanny.bench.mixed_load import table

    def run(qps):
        return {"searches_per_s": qps, "writes_per_s": 1.0, "search_p50_ms": 1.0, "search_p99_ms": 2.0,
                "errors": 0, "server_cpu_ms": 1.0, "client_cpu_ms": 0.5}

    rows = {("processes", "old"): [run(100), run(200)], ("processes", "new"): [run(300), run(200)]}
    lines = table(rows, "t").splitlines()
    assert lines[2].endswith("1.00 (1.00-1.00)")
    assert lines[3].endswith("2.00 (1.00-3.00)")  # 300/100 and 200/200, not 250/150


def test_same_run_serves_old_new_and_the_ceiling_and_drives_them_in_turn(tmp_path, monkeypatch):
    """``python -m experiments.mixed_same_run``: three servers in their own processes (here
    the "old" one is this checkout too), driven in turn, stopped after; the report names the
    command that made it."""
    import json
    import subprocess
    import sys

    from experiments import mixed_same_run

    started = []
    real = subprocess.Popen

    def popen(cmd, *a, **kw):
        p = real(cmd, *a, **kw)
        if mixed_same_run.SERVE in list(cmd):  # not the load's own helper processes
            started.append(p)
        return p

    monkeypatch.setattr(mixed_same_run.subprocess, "Popen", popen)
    monkeypatch.setattr(sys, "argv", ["mixed_same_run", "--old-python", sys.executable])  # provenance argv
    out = tmp_path / "res"
    mixed_same_run.main(["--old-python", sys.executable, "--old-name", "old-here", "--n", "300", "--dim", "16",
                         "--S", "2", "--clients", "2", "--seconds", "600", "--max-requests", "20",
                         "--repeats", "2", "--out", str(out)])
    data = json.loads((out / "mixed-load.json").read_text())
    rows = {r["path"]: r["runs"] for r in data["rows"]}
    assert list(rows) == ["old-here", "new", "ceiling-null"] and all(len(v) == 2 for v in rows.values())
    assert all(r["errors"] == 0 and r["search"] > 0 and r["server_cpu_ms"] > 0 for v in rows.values() for r in v)
    assert "--null" in started[2].args and len(started) == 3
    assert all(p.returncode == 0 for p in started)  # each stopped cleanly when its stdin closed
    assert "`python -m experiments.mixed_same_run --old-python" in (out / "mixed-load.md").read_text()
