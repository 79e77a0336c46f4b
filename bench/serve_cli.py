"""``sanny bench-serve``: load-test the gRPC service (embedded, gRPC workers on 127.0.0.1 or in
network namespaces, Ray actors) against the in-process engine; see :mod:`sanny.bench.serve_load`."""
from __future__ import annotations

import argparse
import os
import re
import sys

from .arglists import comma_list
from .cli import _int_list

MODE_RE = re.compile(r"embedded|(grpc|ray|netns)[1-9][0-9]*")


_modes = comma_list(MODE_RE.fullmatch, "embedded, grpcN, rayN, netnsN")
_distributed_modes = comma_list(lambda x: x == "inproc" or MODE_RE.fullmatch(x), "inproc, embedded, grpcN, rayN, netnsN")


def _distributed(s: str) -> list[str]:
    return [] if s.strip().lower() == "none" else _distributed_modes(s)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench-serve", help="load-test the gRPC service (embedded / gRPC workers / Ray) vs the in-process engine",
        description="Builds the index, starts each topology on 127.0.0.1 free ports, drives it with "
                    "concurrent clients for a bounded time, stops it. Writes serve.json, serve.md, serve.png.")
    p.add_argument("dataset", help="ann-benchmarks HDF5 file (train/test/neighbors/distances)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--modes", type=_modes, default=["embedded", "grpc2", "grpc4", "ray2"],
                   help="topologies run with local re-rank: embedded, grpcN (N worker processes), rayN "
                        "(N Ray actors), netnsN (N worker processes, each in its own network namespace, and "
                        "the coordinator in another; needs root, skipped otherwise) (default "
                        "embedded,grpc2,grpc4,ray2; the in-process baseline always runs)")
    p.add_argument("--distributed", type=_distributed, default=None, metavar="MODES",
                   help="modes to run again with distributed re-rank (keep_vectors=false: the coordinator "
                        "holds no vectors and adds the workers' partial distances; needs --pca-dim 0), "
                        "e.g. grpc2,grpc4,netns2,inproc; 'none' for none (default: the grpcN modes)")
    p.add_argument("--clients", type=_int_list, default=[1, 4], metavar="C[,C...]",
                   help="concurrent client threads, each with its own connection (default 1,4)")
    p.add_argument("--seconds", type=float, default=10.0, help="time bound of each phase (default 10)")
    p.add_argument("--max-queries", type=int, default=100_000, help="query bound of each phase")
    p.add_argument("--batch", type=int, default=100,
                   help="queries per request in the batch phases (default 100; 1 = single queries only)")
    p.add_argument("-k", "--k", type=int, default=10, help="neighbours per query (recall@k)")
    p.add_argument("--T", type=int, help="candidates per subspace (default: the index's, 50)")
    p.add_argument("--epsilon", type=float, help="NGT search expansion (default: the index's, 0.1)")
    p.add_argument("--S", type=int, default=8, help="subspaces (default 8)")
    p.add_argument("--pca-dim", type=int, default=0, help="PCA to this many dims before splitting (0: off)")
    p.add_argument("--prefix", type=int, help="use train[:N] (exact ground truth recomputed)")
    p.add_argument("--keep-work", action="store_true", help="keep the indexes, worker dirs and process logs")
    p.set_defaults(fn=main)


def main(args: argparse.Namespace) -> int:
    from .serve_load import run_serve_bench
    from .plot import require

    require()  # matplotlib, before the run rather than at its first plot

    if not os.path.isfile(args.dataset):
        print(f"error: dataset {args.dataset!r} not found", file=sys.stderr)
        return 2
    if args.batch < 1 or args.seconds <= 0 or args.max_queries < 1:
        print("error: --batch, --seconds and --max-queries must be positive", file=sys.stderr)
        return 2
    rows = run_serve_bench(args.dataset, args.out, modes=args.modes, clients=args.clients, seconds=args.seconds,
                           k=args.k, T=args.T, epsilon=args.epsilon, S=args.S, pca_dim=args.pca_dim,
                           prefix=args.prefix, distributed=args.distributed, batch=args.batch,
                           max_queries=args.max_queries, keep_work=args.keep_work)
    if rows:
        with open(os.path.join(args.out, "serve.md")) as f:
            sys.stdout.write(f.read())
    return 0
