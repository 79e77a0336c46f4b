"""Service topologies for ``sanny bench-serve``, started on 127.0.0.1 free ports and stopped by PID.

- ``embedded``: ``sanny serve --index DIR`` (coordinator and workers in one process);
- ``grpcN``: N ``sanny worker`` processes and a ``sanny serve --config`` coordinator whose
  ``[workers]`` table lists them (subspaces grouped over the N workers);
- ``rayN``: a coordinator with a ``transport = "ray"`` table: it starts a local Ray instance
  and N actors over the same worker data directories (Ray ends with the coordinator; any
  process left behind is killed by PID, see :mod:`.procs`);
- ``netnsN``: as ``grpcN``, but each worker in its own network namespace with its own address
  (``10.213.0.2`` ..; :class:`.netns.Lab`, made and removed here) and the coordinator in a further
  one (``10.213.0.1``), reaching the workers over the namespaces' bridge; clients reach the
  coordinator through a Unix socket (namespaces do not separate the file system).

Indexes are built here (:func:`build`), in this process; remote ones over ``sanny worker``
processes, whose saves the ``grpcN`` and ``rayN`` topologies then load.
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from .netns import Lab
from .procs import Proc, cmdline, rss_mb

log = logging.getLogger(__name__)

SERVE_RE = r"sanny: serving .* on 127\.0\.0\.1:(\d+)"
WORKER_RE = r"listening on 127\.0\.0\.1:(\d+)"
LAB_WORKER_RE = r"listening on [\d.]+:(\d+)"
UNIX_SERVE_RE = r"sanny: serving .* on unix:"
CHUNK = 5000  # vectors per insert while building
REQUEST_TIMEOUT = 300.0  # s; a client deadline far above any expected request


def build(root: str, cfg, ds, factory=None):
    """Create, fill (keys ``str(row)``), build and save an index; returns ``(open index, seconds)``."""
    from sanny.engine import Index

    t0 = time.perf_counter()
    ix = Index.create(root, cfg, overwrite=True, worker_factory=factory)
    try:
        if cfg.needs_training:
            ix.train(ds.train[np.random.default_rng(0).permutation(ds.n)[:20000]])
        for a in range(0, ds.n, CHUNK):
            ix.insert([str(i) for i in range(a, min(a + CHUNK, ds.n))], ds.train[a: a + CHUNK])
        ix.build(optimize=True)
        ix.save()
    except BaseException:
        ix.close(save=False)
        raise
    return ix, time.perf_counter() - t0


@dataclass
class Topology:
    """A running service: where clients connect and the processes to measure."""

    address: str
    coordinator: Proc
    workers: list[Proc] = field(default_factory=list)

    def rss(self) -> dict:
        """VmRSS in MB of the coordinator, each worker (gRPC processes or Ray actors) and the
        rest of the coordinator's descendants (Ray's own processes and idle workers)."""
        kids = self.coordinator.watch()
        actors = sorted(p for p in kids if "HostActor" in cmdline(p))
        workers = [w.pid for w in self.workers] or actors
        other = [p for p in kids if p not in actors]
        return {"rss_coordinator_mb": rss_mb(self.coordinator.pid),
                "rss_workers_mb": [rss_mb(p) for p in workers],
                "rss_other_mb": sum(rss_mb(p) or 0.0 for p in other) if other else None}

    def pids(self) -> list[int]:
        return self.coordinator.pids() + [p for w in self.workers for p in w.pids()]

    def where(self) -> dict:
        """Where clients reach the coordinator and it reaches its worker processes."""
        return {"address": self.address, "worker_addresses": [w.address for w in self.workers]}


# -- searchers: one per client thread; ``decode`` turns a result into row ids (keys are str(row))
def _int_keys(keys) -> np.ndarray:
    return np.array([[int(x) if x is not None else -1 for x in row] for row in keys], np.int64).reshape(len(keys), -1)


class ServiceSearcher:
    """One client thread's connection (a local subchannel pool: no sharing between clients)."""

    def __init__(self, address: str, k: int, opts: dict):
        from sanny.engine.api.client import Client

        self.client = Client(address, timeout=REQUEST_TIMEOUT, options=[("grpc.use_local_subchannel_pool", 1)])
        self.k, self.opts = k, opts

    def __call__(self, q: np.ndarray):
        return self.client.search(q, self.k, **self.opts)[0]

    def decode(self, keys) -> np.ndarray:
        return _int_keys(keys)

    def close(self) -> None:
        self.client.close()


class InProcessSearcher:
    def __init__(self, index, k: int, opts: dict):
        self.index, self.k, self.opts = index, k, opts

    def __call__(self, q: np.ndarray):
        return self.index.search_ids(q, self.k, **self.opts)[0]

    def decode(self, ids) -> np.ndarray:
        return _int_keys(self.index.keys_of(ids))

    def close(self) -> None:
        pass


# -- topologies ----------------------------------------------------------------------------
def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "[" + ", ".join(_toml(v) for v in value) + "]"


def write_config(path: str, workers: dict) -> str:
    with open(path, "w") as f:
        f.write("[workers]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in workers.items()))
    return path


def grpc_table(addresses: list[str], groups: list[list[int]], shards: int = 1) -> dict:
    """``addresses`` in (shard, group) order: shard r's group g is ``addresses[r * len(groups) + g]``."""
    return {"transport": "grpc", "addresses": addresses, "groups": groups, "timeout": 120, "slow_timeout": 1800,
            **({"shards": shards} if shards > 1 else {})}


def ray_table(data_dir: str, groups: list[list[int]]) -> dict:
    cpus = os.cpu_count() or 1  # every actor must fit on this machine's CPUs
    return {"transport": "ray", "groups": groups, "data_dir": data_dir, "max_restarts": 0,
            "num_cpus": min(1.0, cpus / len(groups)), "timeout": 120, "slow_timeout": 1800}


@contextlib.contextmanager
def worker_procs(data_dirs: list[str], logdir: str, lab: Lab | None = None):
    """``sanny worker`` processes on free ports, started together; yields them once all listen.
    With ``lab``, worker i runs in the lab's host i + 1 on that host's address (host 0 is left
    for the coordinator)."""
    procs: list[Proc] = []
    try:
        for i, d in enumerate(data_dirs):
            args = ["worker", "--listen", f"{lab.address(i + 1) if lab else '127.0.0.1'}:0", "--data-dir", d,
                    "--grace", "2"] + (["--insecure"] if lab else [])  # the lab's veth network is this machine's
            log_path = os.path.join(logdir, f"worker-{i}.log")
            procs.append(lab.run(i + 1, f"worker-{i}", args, log_path, LAB_WORKER_RE) if lab
                         else Proc(f"worker-{i}", args, log_path, WORKER_RE))
        yield [p.wait_ready() for p in procs]
    finally:
        for p in reversed(procs):
            p.stop()


@contextlib.contextmanager
def coordinator(index_dir: str, log_path: str, config: str | None = None, lab: Lab | None = None):
    """``sanny serve`` on a free 127.0.0.1 port; with ``lab``, in its host 0 on a Unix socket
    (:attr:`Proc.address` is then ``unix:PATH``)."""
    args = ["serve", "--index", index_dir, "--grace", "2"] + (["--config", config] if config else [])
    sock = tempfile.mkdtemp(prefix="sanny-") if lab else None  # a short path: sockets take <= 107 bytes
    try:
        if lab:
            where = f"unix:{sock}/serve.sock"
            proc = lab.run(0, "coordinator", args + ["--listen", where], log_path, UNIX_SERVE_RE, host=where)
        else:
            proc = Proc("coordinator", args + ["--listen", "127.0.0.1:0"], log_path, SERVE_RE)
        try:
            yield proc.wait_ready()
        finally:
            proc.stop()
    finally:
        if sock:
            shutil.rmtree(sock, ignore_errors=True)


@contextlib.contextmanager
def serve(mode: str, index_dir: str, worker_dirs: list[str], groups: list[list[int]], logdir: str,
          shards: int = 1):
    """Start ``mode`` (``embedded``, ``grpcN``, ``netnsN`` or ``rayN``) over a built index; yields a Topology
    (``netnsN`` raises :class:`.netns.LabUnavailable` where namespaces cannot be made). ``shards``: the
    index's R (``grpcN`` / ``netnsN`` only; ``worker_dirs`` in :func:`grpc_table`'s address order)."""
    os.makedirs(logdir, exist_ok=True)
    coord_log = os.path.join(logdir, "coordinator.log")
    if mode == "embedded":
        with coordinator(index_dir, coord_log) as c:
            yield Topology(c.address, c)
    elif mode.startswith(("grpc", "netns")):
        with contextlib.ExitStack() as stack:  # netns: the lab (namespaces, every process left in them) goes last
            lab = stack.enter_context(Lab(len(worker_dirs))) if mode.startswith("netns") else None
            ws = stack.enter_context(worker_procs(worker_dirs, logdir, lab))
            cfg = write_config(os.path.join(logdir, "serve.toml"), grpc_table([w.address for w in ws], groups, shards))
            c = stack.enter_context(coordinator(index_dir, coord_log, cfg, lab))
            yield Topology(c.address, c, ws)
    elif mode.startswith("ray"):
        cfg = write_config(os.path.join(logdir, "serve.toml"), ray_table(os.path.dirname(worker_dirs[0]), groups))
        with coordinator(index_dir, coord_log, cfg) as c:
            yield Topology(c.address, c)
    else:
        raise ValueError(f"unknown mode {mode!r}")
