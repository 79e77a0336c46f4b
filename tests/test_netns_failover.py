"""Multi-host test: every worker in its own network namespace with its own address (veth pairs
on a bridge, optional netem delay; bench/netns.py), the coordinator in another one. One replica
of a 2-shard x 2-replica grid is killed (SIGKILL), paused (SIGSTOP) or cut off (link down)
during mixed searches and writes: no search fails, no acknowledged write is lost, the cell is
seen degraded, and the replica is caught up and serving again after it comes back.

Needs root and a kernel that allows network namespaces (CI runs as root): skipped otherwise."""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading

import pytest

from sanny.bench.netns import Lab, LabUnavailable

WAIT = 120.0  # bound on every wait; never reached when things work
PORT = 7001


def _worker_args(lab, i, data_dir):
    return ["worker", "--listen", f"{lab.address(i)}:{PORT}", "--data-dir", str(data_dir), "--grace", "1",
            "--insecure"]  # the lab's namespaces are this test's own hosts


def _start(lab, i, tmp):
    p = lab.run(i, f"worker-{i}", _worker_args(lab, i, tmp / f"w{i}"), str(tmp / f"w{i}-{len(lab.procs)}.log"),
                r"listening on [\d.]+:(\d+)")
    p.wait_ready(WAIT)
    return p


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("netns")
    lab = Lab(workers=4)
    try:
        lab.up()
    except LabUnavailable as e:
        pytest.skip(f"network namespaces unavailable here: {e}")
    try:
        lab.delay(0.25)  # netem may be missing from the kernel: then the LAN has no added delay
        lab.workers = {i: _start(lab, i, tmp) for i in range(1, 5)}
        lab.tmp = tmp
        yield lab
    finally:
        lab.close()


def _lines(proc, out: queue.Queue):
    for line in proc.stdout:
        out.put(line)
    out.put(None)


def _next(out: queue.Queue) -> dict:
    while True:
        line = out.get(timeout=WAIT)
        assert line is not None, "the coordinator exited early"
        if line.startswith("{"):
            return json.loads(line)


FAULTS = {
    "kill": (lambda lab: os.kill(lab.workers[1].pid, signal.SIGKILL),
             lambda lab: lab.workers.__setitem__(1, _start(lab, 1, lab.tmp))),
    "pause": (lambda lab: os.kill(lab.workers[1].pid, signal.SIGSTOP),
              lambda lab: os.kill(lab.workers[1].pid, signal.SIGCONT)),
    "cut": (lambda lab: lab.link(1, False), lambda lab: lab.link(1, True)),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_one_replica_fails_under_load(lab, fault, tmp_path):
    addresses = ",".join(f"{lab.address(i)}:{PORT}" for i in range(1, 5))
    cmd = ["ip", "netns", "exec", lab.ns(0), sys.executable, "-m", "sanny.bench.netns_load",
           "--addresses", addresses, "--index", str(tmp_path / "ix"), "--clients", "4"]
    coord = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    out: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(coord, out), daemon=True).start()
    try:
        break_it, heal = FAULTS[fault]
        assert _next(out)["event"] == "fault"
        break_it(lab)
        coord.stdin.write("\n")
        coord.stdin.flush()
        assert _next(out)["event"] == "heal"
        heal(lab)
        coord.stdin.write("\n")
        coord.stdin.flush()
        res = _next(out)
        print(fault, json.dumps({k: v for k, v in res.items() if k != "failed"}))  # shown with -s
        assert res["event"] == "result"
        assert res["failed"] == [] and res["searches"] > 0
        assert res["lost"] == 0 and res["misfound"] == 0 and res["acked"] == 400
        assert res["degraded_seen"] and res["ready"] and len(res["catchup_s"]) == 1
        assert res["counts"][0] == res["counts"][1] == 500  # shard 0 of 1000 rows, both replicas
        assert coord.wait(WAIT) == 0
    finally:
        if coord.poll() is None:
            os.kill(coord.pid, signal.SIGKILL)
            coord.wait(WAIT)
        for i in range(1, 5):  # leave every worker running and reachable for the next fault
            lab.link(i, True)
            os.kill(lab.workers[i].pid, signal.SIGCONT)
