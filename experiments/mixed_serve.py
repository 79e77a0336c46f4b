"""Serve an index of the vectors in an ``.npy`` file, for ``mixed_load --target``: prints
``PORT <port> PID <pid>`` once serving, and serves until its standard input closes.

It uses only the API every Sanny version has (``Index.create / insert / build``, the server's
``run_server``), so the same file, run by an older checkout's interpreter, serves that
version: a same-run old-vs-new ratio under the same clients. Runnable as a plain script.

    python -m sanny.bench.mixed_load --save-data mixed.npy
    python experiments/mixed_serve.py mixed.npy --S 4 < /dev/tty   # or any stdin kept open

``--null`` serves the transport ceiling instead: the same server, servicer and request checks,
but the index answers every search at once with the same ten ids and every write is a no-op
(no WAL, no fsync). What it serves is what the clients, gRPC and the servicer alone allow on
this machine: no engine, however fast, serves more in the same run.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help=".npy file of float32 vectors (n x dim)")
    ap.add_argument("--S", type=int, default=4)
    ap.add_argument("--inner", help="inner index kind (default: the version's own default)")
    ap.add_argument("--null", action="store_true",
                    help="the transport ceiling: searches answered at once, writes not applied")
    args = ap.parse_args(argv)
    from sanny.engine import Index, IndexConfig
    try:
        from sanny.engine.api.server import run_server
    except ImportError:  # before engine/api/ (Nov 2026)
        from sanny.engine.server import run_server
    x = np.load(args.data)
    kw = {}
    if args.inner:
        from sanny.engine import InnerParams
        kw["inner"] = InnerParams(kind=args.inner)
    with tempfile.TemporaryDirectory() as d:
        ix = Index.create(os.path.join(d, "idx"), IndexConfig(dim=x.shape[1], S=args.S, **kw))
        ix.insert([str(i) for i in range(len(x))], x)
        ix.build()
        if args.null:
            _answer_at_once(ix)
        with run_server(ix, vald=False) as (_server, port):
            print(f"PORT {port} PID {os.getpid()} inner {ix.config.inner.kind}", flush=True)
            sys.stdin.read()
        ix.close(save=False)


def _answer_at_once(ix) -> None:
    """The index's engine replaced by constant answers, the servicer's path left whole."""
    ids = np.arange(10)[None, :]
    dist = np.zeros((1, 10), np.float32)

    def search_ids(queries, k=10, **_kw):
        m = len(queries)
        return np.repeat(ids[:, :k], m, 0), np.repeat(dist[:, :k], m, 0)

    def _search(queries, k, with_keys, **_kw):  # what Index.search goes through (ids and keys at once)
        i, d = search_ids(queries, k)
        return i, d, (ix.keys_of(i) if with_keys else i)

    ix.search_ids, ix._search = search_ids, _search  # older checkouts have no _search: harmless
    for write in ("insert", "upsert", "update"):
        setattr(ix, write, lambda keys, _vectors, **_kw: len(keys))


if __name__ == "__main__":
    main()
