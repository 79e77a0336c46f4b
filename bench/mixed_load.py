"""Mixed read/write load on one served index: ``C`` clients, each request a search with
probability ``read`` else a one-key upsert (a WAL fsync). Prints searches/s and writes/s.

Clients run as threads of the server's process (the old harness: they share its interpreter) or
in their own processes, as real clients do.

    python -m sanny.bench.mixed_load --n 5000 --dim 128 --S 4 --clients 8 --seconds 15 --repeats 3

``--target NAME=HOST:PORT[,PID]`` (repeatable) drives servers that already run instead, in turn
within every repeat: e.g. an older checkout's server beside this one, both started by
``experiments/mixed_serve.py`` on the vectors ``--save-data`` wrote, for a same-run ratio.
"""
from __future__ import annotations

import argparse
import functools
import json
import multiprocessing as mp
import os
import tempfile
import threading
import time

import numpy as np
from tqdm import tqdm

from sanny.engine import Index, IndexConfig, InnerParams
from sanny.workers.inner import INNER_KINDS
from sanny.engine.api.client import Client
from sanny.engine.api.server import run_server

from . import procs, provenance
from .synthetic import clustered


START_WAIT = 120.0  # s: bound on waiting for every client to connect


def _client(address: str, dim: int, c: int, read: float, seconds: float, max_requests: int, seed: int,
            go) -> dict:
    """One client: its own channel; ``go`` (a barrier) starts every client's clock at once."""
    rng = np.random.default_rng(seed + c)
    out = {"search": 0, "write": 0, "errors": 0, "latency": []}  # latency: seconds per search
    with Client(address) as cl:
        cl.search(rng.normal(size=(1, dim)).astype(np.float32), 10)  # connected before the clock
        go.wait(START_WAIT)  # a client that cannot connect breaks the barrier instead of hanging the rest
        t0, c0 = time.monotonic(), procs.cpu_seconds(os.getpid())
        stop = t0 + seconds
        for i in range(max_requests):
            if time.monotonic() >= stop:
                break
            kind = "search" if rng.random() < read else "write"
            v = rng.normal(size=(1, dim)).astype(np.float32)
            try:
                if kind == "search":
                    t = time.perf_counter()
                    cl.search(v, 10)
                    out["latency"].append(time.perf_counter() - t)
                else:
                    cl.upsert([f"w{c}-{i % 500}"], v)
            except Exception:  # noqa: BLE001 - counted
                kind = "errors"
            out[kind] += 1
        out["span"], out["cpu"] = time.monotonic() - t0, procs.cpu_seconds(os.getpid()) - c0
    return out


def _in_threads(address, dim, clients, **kw) -> list[dict]:
    res, go = [None] * clients, threading.Barrier(clients)

    def one(c):
        res[c] = _client(address, dim, c, **kw, go=go)

    threads = [threading.Thread(target=one, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return res


def _in_processes(address, dim, clients, **kw) -> list[dict]:
    """Clients in their own processes (spawned), as real clients are: the server's interpreter
    is measured alone. The clock starts when every client is connected."""
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(clients) as pool:
        go = manager.Barrier(clients)
        return pool.starmap(functools.partial(_client, **kw, go=go), [(address, dim, c) for c in range(clients)])


def load(address: str, dim: int, clients: int, seconds: float, read: float = 0.8,
         max_requests: int = 100_000, seed: int = 0, processes: bool = False,
         server_pid: int | None = None) -> dict:
    """Drive the server at ``address`` with ``clients`` clients, in threads of this process or
    (``processes``) in their own; counts per kind over the longest client's span. Server CPU per
    request: of ``server_pid`` when given, else of this process (the server runs here)."""
    drive = _in_processes if processes else _in_threads
    cpu = functools.partial(procs.cpu_seconds, server_pid or os.getpid())
    c0 = cpu()
    res = drive(address, dim, clients, read=read, seconds=seconds, max_requests=max_requests, seed=seed)
    here = cpu() - c0  # the server's process (and the clients, when they are threads here)
    wall = max(r["span"] for r in res)
    counts = {k: sum(r[k] for r in res) for k in ("search", "write", "errors")}
    requests = max(1, counts["search"] + counts["write"] + counts["errors"])
    client_cpu = sum(r["cpu"] for r in res) if processes else 0.0
    latency = [x for r in res for x in r["latency"]]
    p50, p99 = np.percentile(latency, [50, 99]) * 1000 if latency else (np.nan, np.nan)
    return {**counts, "seconds": wall, "searches_per_s": counts["search"] / wall,
            "writes_per_s": counts["write"] / wall, "search_p50_ms": p50, "search_p99_ms": p99,
            "server_cpu_ms": 1000 * here / requests, "client_cpu_ms": 1000 * client_cpu / requests}


def run(index, clients: int, seconds: float, processes: bool = False, **kw) -> dict:
    """:func:`load` through a gRPC server of ``index`` started in this process."""
    with run_server(index, vald=False) as (_server, port):
        return load(f"127.0.0.1:{port}", index.config.dim, clients, seconds, processes=processes, **kw)


def _target(spec: str) -> tuple[str, str, int | None]:
    """``NAME=HOST:PORT[,PID]`` -> (name, address, server pid or None)."""
    name, _, rest = spec.partition("=")
    address, _, pid = rest.partition(",")
    if not name or not address:
        raise argparse.ArgumentTypeError(f"--target wants NAME=HOST:PORT[,PID], got {spec!r}")
    return name, address, int(pid) if pid else None


def table(rows: dict, title: str) -> str:
    """The printed table: per (clients in, server) the median (min-max) over runs,
    and searches/s as a multiple of the first row's, paired repeat by repeat (median, min-max):
    rows measured in turn within each repeat share the machine's state of that moment."""
    out = [title, f"{'clients in':10} {'server':54} {'searches/s':>22} {'writes/s':>9} {'p50 ms':>7} "
                  f"{'p99 ms':>7} {'errors':>6} {'CPU ms/request: server client':>30} {'x first row':>19}"]
    first = next(iter(rows.values()), [])
    for (mode, path), rs in rows.items():
        qps = [r["searches_per_s"] for r in rs]
        med = lambda key: float(np.median([r[key] for r in rs]))  # noqa: E731
        x = [a["searches_per_s"] / b["searches_per_s"] for a, b in zip(rs, first) if b["searches_per_s"] > 0]
        times = f"{np.median(x):6.2f} ({min(x):4.2f}-{max(x):4.2f})" if x else ""
        out.append(f"{mode:10} {path:54} {med('searches_per_s'):8.0f} ({min(qps):5.0f}-{max(qps):5.0f}) "
                   f"{med('writes_per_s'):9.0f} {med('search_p50_ms'):7.1f} {med('search_p99_ms'):7.1f} "
                   f"{sum(r['errors'] for r in rs):6d} {med('server_cpu_ms'):23.3f} {med('client_cpu_ms'):6.3f} "
                   f"{times:>19}")
    return "\n".join(out)


def save(out_dir: str, rows: dict, title: str, args: dict, module: str = __spec__.name) -> None:
    """``mixed-load.json`` (every run, the arguments, provenance) and ``mixed-load.md`` (the table);
    ``module``: the ``python -m`` module whose command line made it (provenance has its argv)."""
    os.makedirs(out_dir, exist_ok=True)
    data = {"title": title, "args": args, "provenance": provenance.collect(), "module": module,
            "rows": [{"clients_in": m, "path": p, "runs": rs} for (m, p), rs in rows.items()]}
    with open(os.path.join(out_dir, "mixed-load.json"), "w") as f:
        json.dump(data, f, indent=1, default=float)
    report(out_dir)


def report(out_dir: str) -> str:
    """(Re)write ``mixed-load.md`` from ``mixed-load.json``; returns the table."""
    with open(os.path.join(out_dir, "mixed-load.json")) as f:
        data = json.load(f)
    text = table({(r["clients_in"], r["path"]): r["runs"] for r in data["rows"]}, data["title"])
    with open(os.path.join(out_dir, "mixed-load.md"), "w") as f:
        f.write(f"```\n{text}\n```\n\ncommit {data['provenance'].get('commit', '?')}, "
                f"`python -m {data.get('module', 'sanny.bench.mixed_load')} {' '.join(data['provenance'].get('argv', []))}`\n")
    return text


def main(argv=None, module: str = __spec__.name) -> None:
    """``module``: the command named in the report (a caller such as ``mixed_same_run`` passes its own)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--inner", choices=INNER_KINDS, default="hnsw", help="inner index kind (default hnsw)")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--read", type=float, default=0.8, help="fraction of requests that are searches (default 0.8)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-requests", type=int, default=100_000, help="per client and run (with --seconds)")
    ap.add_argument("--clients-in", choices=("threads", "processes", "both"), default="both",
                    help="clients as threads of the server's process (the old harness) or their own processes")
    ap.add_argument("--out", help="directory for mixed-load.json (every run) and mixed-load.md (the table)")
    ap.add_argument("--report", metavar="DIR", help="only re-render DIR/mixed-load.md from its json")
    ap.add_argument("--save-data", metavar="NPY", help="only write the --n x --dim vectors (for experiments/mixed_serve.py)")
    ap.add_argument("--target", type=_target, action="append", default=[], metavar="NAME=HOST:PORT[,PID]",
                    help="drive already-running servers instead (each holding --dim vectors), in turn in "
                         "every repeat; PID: the server's process, for its CPU per request")
    args = ap.parse_args(argv)
    if args.report:
        print(report(args.report))
        return
    if args.save_data:
        np.save(args.save_data, clustered(args.n, args.dim, seed=0))
        return
    rows: dict[tuple, list[dict]] = {}
    if args.target:
        for rep in tqdm(range(args.repeats), desc="repeats"):
            order = args.target if rep % 2 == 0 else args.target[::-1]  # neither always goes first
            for name, address, pid in order:
                r = load(address, args.dim, args.clients, args.seconds, args.read, args.max_requests,
                         processes=True, server_pid=pid)
                rows.setdefault(("processes", name), []).append(r)
        title = (f"{args.clients} clients, servers {', '.join(t[0] for t in args.target)}; "
                 f"median (min-max) of {args.repeats}, interleaved")
    else:
        title = _in_process(args, rows)
    print(table(rows, title))
    if args.out:
        save(args.out, rows, title, {k: v for k, v in vars(args).items() if k != "report"}, module)


def _in_process(args, rows: dict) -> str:
    """One index and server in this process; returns the table's title."""
    modes = ["threads", "processes"] if args.clients_in == "both" else [args.clients_in]
    x = clustered(args.n, args.dim, seed=0)
    with tempfile.TemporaryDirectory() as d:
        index = Index.create(f"{d}/idx", IndexConfig(dim=args.dim, S=args.S, inner=InnerParams(kind=args.inner)))
        index.insert([str(i) for i in range(args.n)], x)
        index.build()
        for _ in tqdm(range(args.repeats), desc="repeats"):
            for mode in modes:
                r = run(index, args.clients, args.seconds, processes=mode == "processes", read=args.read,
                        max_requests=args.max_requests)
                rows.setdefault((mode, "this engine, in process"), []).append(r)
        index.close(save=False)
    return f"{args.clients} clients, {args.n} x {args.dim}, S={args.S}, {args.inner}; median (min-max) of {args.repeats}"


if __name__ == "__main__":
    main()
