"""``sanny`` CLI: build (``build_cli``), search, info, tune; other commands are plugins. Logging is set up here only."""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import sys
import time

from sanny.workers.errors import SannyError

from .build_cli import print_tune, cmd_build, config_args

log = logging.getLogger("sanny")

# Feature packages add their own subcommands through the ``sanny.commands`` entry-point group
# (pyproject.toml): each entry is a ``register(subparsers)`` that sets ``fn`` on its parser(s);
# a command's heavy imports stay inside its module. The core imports none of them.
PLUGIN_GROUP = "sanny.commands"


def cmd_search(args) -> int:
    from . import vectorfile
    from .index import Index

    q, _ = vectorfile.read(args.queries, args.dataset)
    with Index.open(args.index) as ix:
        t0 = time.perf_counter()
        keys, dist = ix.search(q, args.k, T=args.T, epsilon=args.epsilon, ef_search=args.ef_search)
        dt = time.perf_counter() - t0
    if args.out:
        vectorfile.write_results(args.out, keys, dist)
        print(f"wrote {len(q)} results to {args.out}")
    else:
        for i, (ks, ds) in enumerate(zip(keys, dist)):
            print(f"query {i}: " + "  ".join(f"{k}:{d:.4g}" for k, d in zip(ks, ds) if k is not None))
    print(f"{len(q)} queries in {dt:.3f} s ({len(q) / dt:.0f} QPS)", file=sys.stderr)
    return 0


def cmd_info(args) -> int:
    from .grid import summary
    from .index import Index
    from .info_text import info_lines

    if args.server or not args.index:  # a running server's index and grid, over gRPC
        from .api.info_cli import cmd_info_server
        return cmd_info_server(args)
    with Index.open(args.index) as ix:
        info = ix.info()
    grid = summary(info["workers"])
    if args.json:
        print(json.dumps({**info, "grid": grid}, indent=1))
        return 0
    lines = info_lines(info, grid)
    for name, value in lines:
        print(f"{name:<8} {value}")
    return 0


def cmd_tune(args) -> int:
    from . import vectorfile
    from .index import Index
    from .tune import tune

    q = vectorfile.read(args.queries, args.dataset)[0] if args.queries else None
    with Index.open(args.index) as ix:
        r = tune(ix, args.target, queries=q, k=args.k)
    for row in r.table:
        knobs = "  ".join(f"{n}={row[n]:<5}" for n in ("T", "ef_search", "epsilon") if n in row)
        print(f"{knobs} recall={row['recall']:.3f} expected>={row['expected']:.3f} "
              f"qps={row['qps']:.0f} ({row['qps_min']:.0f}-{row['qps_max']:.0f})")
    print_tune(r)
    return 0 if r.met else 3


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sanny", description="Sub-vector parallel ANN search.")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="build an index directory from an HDF5/NPY/NPZ file")
    b.add_argument("data")
    b.add_argument("--index", required=True, help="index directory to create")
    b.add_argument("--dataset", default="train", help="HDF5/NPZ dataset name")
    b.add_argument("--batch", type=int, default=5000)
    b.add_argument("--train-size", type=int, default=20000, help="sample size for PCA / balanced")
    b.add_argument("--target-recall", type=float,
                   help="tune T/epsilon (and S with --S auto) so that recall@10 on new queries reaches this "
                        "with 95%% confidence (default 0.95)")
    b.add_argument("--queries", help="tune on these queries (default: leave-one-out over 500 stored vectors)")
    b.add_argument("--queries-dataset", default="test", help="HDF5/NPZ dataset name in --queries")
    b.add_argument("--no-tune", action="store_true", help="keep IndexConfig's T/epsilon")
    b.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty DIR (refused while another process holds it open)")
    config_args(b)
    b.set_defaults(fn=cmd_build)

    s = sub.add_parser("search", help="search queries from a file")
    s.add_argument("queries")
    s.add_argument("--index", required=True)
    s.add_argument("--dataset", default="test")
    s.add_argument("-k", type=int, default=10)
    s.add_argument("--T", type=int)
    s.add_argument("--epsilon", type=float, help="NGT's search range (default: the index's)")
    s.add_argument("--ef-search", type=int, help="graph beam, symqg / faiss HNSW (default: the index's; 0: T)")
    s.add_argument("--out", help="write results (.tsv or .npz) instead of printing")
    s.set_defaults(fn=cmd_search)

    i = sub.add_parser("info", help="print an index's configuration and counts")
    i.add_argument("index", nargs="?")
    i.add_argument("--server", help="HOST:PORT of a running sanny serve: its index and workers instead")
    i.add_argument("--token-file", help="the server's bearer token (with --server)")
    i.add_argument("--json", action="store_true", help="the full machine-readable state")
    i.set_defaults(fn=cmd_info)

    t = sub.add_parser("tune", help="pick T/epsilon for a target recall@k and store them")
    t.add_argument("index")
    t.add_argument("--target", type=float, default=0.95)
    t.add_argument("--queries", help="held-out queries file (default: a sample of stored vectors)")
    t.add_argument("--dataset", default="test")
    t.add_argument("-k", type=int, default=10)
    t.set_defaults(fn=cmd_tune)

    for entry in sorted(importlib.metadata.entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        entry.load()(sub)
    return p


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    if not verbose:  # faiss' loader logs each instruction set it tries (ModuleNotFoundError ...) at INFO
        logging.getLogger("faiss").setLevel(logging.WARNING)


def _one_line(e: BaseException) -> str:
    details = e.details() if callable(getattr(e, "details", None)) else None
    msg = " ".join(str(details or e or type(e).__name__).split())
    if msg.startswith("Failed to bind"):  # grpc's add_port: the port is taken (or not local)
        msg = msg.partition(";")[0] + " (is another server listening there?)"
    return msg


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real stdout (redirected in-process): nothing to flush
        pass


def main(argv=None) -> int:
    """Run one command. Expected failures (bad input, missing files, no server, a taken port)
    end in one line on stderr and exit code 2; Ctrl-C in one line and 130; ``-v`` shows the
    traceback."""
    # gRPC's C core logs failures (a taken port, ...) to stderr itself; the one-line error says it
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    args = parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return args.fn(args) or 0
    except BrokenPipeError:  # the reader left (`sanny info --json | head`): nothing to say to it
        _quiet_stdout()
        return 0
    except KeyboardInterrupt:
        where = f"; {args.index} is incomplete (rebuild it with --overwrite)" if args.cmd == "build" else ""
        print(f"sanny {args.cmd}: interrupted{where}", file=sys.stderr)
        return 130
    except (SannyError, OSError, RuntimeError, ValueError) as e:
        if args.verbose:
            log.exception("failed")
        print(f"sanny {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except Exception as e:  # grpc.RpcError from a plugin talking to a server
        if type(e).__module__.split(".")[0] != "grpc":
            raise
        print(f"sanny {args.cmd}: error: {_one_line(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
