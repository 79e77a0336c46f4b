"""``sanny bench-churn``: speed, recall, memory and disk of an index under churn (delete / insert /
upsert cycles, and a burst of upserts), as ratios to fresh builds; see :mod:`.churn`. Writes
churn.json, then churn.md and churn.png from it (``--report-only`` redoes those two)."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from .arglists import choices, comma_list
from .churn_site import MODE_RE


_modes = comma_list(MODE_RE.fullmatch, "embedded, grpcN")


def run_churn_bench(dataset: str, out: str, *, inner=("symqg", "hnsw"), modes=("embedded", "grpc2"), n: int = 30000,
                    cycles: int = 20, share: float = 0.1, burst: float = 2.0, settle: float = 60.0, step: float = 5.0,
                    repeats: int = 3, queries: int = 1000, singles: int = 200, batch: int = 1000, fresh_every: int = 5,
                    k: int = 10, T: int | None = None, ef_search: int = 0, pca_dim: int = 0,
                    settle_timeout: float = 600.0, seed: int = 0, keep_work: bool = False,
                    burst_vectors: str = "same") -> dict:
    """Run every inner kind x mode, writing churn.json after each run; render churn.md / churn.png."""
    from . import churn_report, ingest, provenance
    from .churn import Runner, isolated

    data = ingest.load(dataset, None, queries)
    notes = []
    if n >= data.n:
        raise ValueError(f"--n {n} leaves no held-back rows of the {data.n} in {os.path.basename(dataset)}")
    if (data.n - n) < cycles * max(1, round(share * n)):
        notes.append(f"{data.n - n} held-back rows for {cycles} cycles of {round(share * n)} inserts: "
                     "deleted rows are inserted again later, under new keys")
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    doc = {"dataset": data.name, "dim": data.dim, "metric": data.metric, "cpus": os.cpu_count(),
           "settings": {"n": n, "cycles": cycles, "share": share, "burst": burst, "settle": settle, "step": step,
                        "repeats": repeats, "queries": len(data.test), "singles": singles, "batch": batch,
                        "fresh_every": fresh_every, "k": k, "T": T, "ef_search": ef_search, "pca_dim": pca_dim,
                        "S": 1, "inner": list(inner), "modes": list(modes), "seed": seed,
                        "burst_vectors": burst_vectors},
           "rows": [], "notes": notes,
           "provenance": provenance.collect(dataset)}
    opts = {"n": n, "cycles": cycles, "share": share, "burst": burst, "settle": settle, "step": step,
            "repeats": repeats, "singles": singles, "batch": batch, "fresh_every": max(1, fresh_every), "k": k,
            "settle_timeout": settle_timeout, "seed": seed, "burst_vectors": burst_vectors}

    try:
        for kind in inner:
            cfg = ingest.config(data, kind, pca_dim, T)
            doc["settings"]["T"] = cfg.T
            opts["search"] = {"T": cfg.T, "ef_search": ef_search}
            runner = Runner(data, opts, work)
            for mode in modes:
                doc["rows"] += isolated("cycles", runner, cfg, kind, mode)
                churn_report.write_json(doc, out)
                if burst > 0:
                    doc["rows"] += isolated("burst", runner, cfg, kind, mode)
                    churn_report.write_json(doc, out)
    finally:
        churn_report.write_json(doc, out)
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return churn_report.render(out)


def _train_rows(path: str) -> int:
    import h5py

    with h5py.File(path, "r") as f:
        return len(f["train"])


def register(subparsers) -> None:
    from sanny.workers.inner import INNER_KINDS

    p = subparsers.add_parser(
        "bench-churn", help="recall / QPS / RSS / disk under delete-insert-upsert cycles and an upsert burst, vs fresh",
        description="Loads the first N train vectors (the rest held back) and builds; then cycles that each delete "
                    "--share of the live vectors, insert as many held-back ones and upsert --share of the live keys "
                    "with unchanged vectors, each measured right after its writes and once settled, against fresh "
                    "builds of the same live vectors; then a burst of --burst x N upserts measured every --step s "
                    "for --settle s. Modes: embedded (in process) and grpcN (N `sanny worker` processes on 127.0.0.1, "
                    "one row shard each). Writes churn.json, churn.md, churn.png to --out.")
    p.add_argument("dataset", nargs="?", help="ann-benchmarks HDF5 file (not needed with --report-only)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--inner", type=choices(INNER_KINDS), default=["symqg", "hnsw"],
                   help=f"inner index kinds, comma-separated, of {', '.join(INNER_KINDS)} (default symqg,hnsw)")
    p.add_argument("--modes", type=_modes, default=["embedded", "grpc2"], help="embedded, grpcN (default embedded,grpc2)")
    p.add_argument("--n", type=int, default=30000, help="live vectors (the first N train rows; default 30000)")
    p.add_argument("--cycles", type=int, default=20, help="churn cycles (default 20)")
    p.add_argument("--share", type=float, default=0.1, help="share deleted, inserted and upserted per cycle (0.1)")
    p.add_argument("--burst", type=float, default=2.0, help="upserts in the burst, in multiples of N (0: no burst)")
    p.add_argument("--burst-vectors", choices=["same", "swap"], default="same",
                   help="burst upserts write the key's unchanged vector (same, default), or alternately another "
                        "row's and its own (swap: every upsert a real change, every key back on its own at the end)")
    p.add_argument("--settle", type=float, default=60.0, help="seconds measured after the burst (default 60)")
    p.add_argument("--step", type=float, default=5.0, help="seconds between measurements after the burst (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats of each batch / single-query pass (default 3)")
    p.add_argument("--queries", type=int, default=1000, help="test queries used (default 1000)")
    p.add_argument("--singles", type=int, default=200, help="queries timed one per call (default 200; 0: none)")
    p.add_argument("--batch", type=int, default=1000, help="keys per write call (default 1000)")
    p.add_argument("--fresh-every", type=int, default=5, help="a fresh baseline every this many cycles (default 5)")
    p.add_argument("-k", "--k", type=int, default=10, help="neighbours per query")
    p.add_argument("--T", type=int, help="candidates per subspace (default: the index's)")
    p.add_argument("--ef-search", type=int, default=0, help="graph beam (0: T)")
    p.add_argument("--pca-dim", type=int, default=0, help="PCA to this many dims (0: off; trained untimed)")
    p.add_argument("--settle-timeout", type=float, default=600.0, help="bound on each wait_compaction (s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-work", action="store_true", help="keep the index directories under OUT/work")
    p.add_argument("--report-only", action="store_true", help="only rewrite churn.md / churn.png from churn.json")
    p.add_argument("--compare", metavar="BEFORE_DIR",
                   help="only write OUT/churn-compare.md: BEFORE_DIR's churn.json (e.g. an older engine's) beside OUT's")
    p.set_defaults(fn=main)


def main(args: argparse.Namespace) -> int:
    from . import docfiles
    from .churn_report import NAMES, render
    from .plot import require

    require()  # matplotlib, before the run rather than at its first plot

    if args.compare:
        from .churn_compare import write

        if not docfiles.present((args.compare, args.out), NAMES[0]):
            return 2
        sys.stdout.write(write(args.compare, args.out))
        return 0
    if args.report_only:
        if not docfiles.present((args.out,), NAMES[0]):
            return 2
        render(args.out)
    else:
        if not args.dataset or not os.path.isfile(args.dataset):
            print(f"error: dataset {args.dataset!r} not found", file=sys.stderr)
            return 2
        counts = (args.n, args.repeats, args.queries, args.batch, args.fresh_every, args.k, args.step)
        if min(counts) <= 0 or min(args.cycles, args.burst, args.settle, args.singles) < 0 or not 0 < args.share < 1:
            print("error: --n, --repeats, --queries, --batch, --fresh-every, -k, --step must be positive, "
                  "--cycles, --burst, --settle, --singles >= 0 and --share in (0, 1)", file=sys.stderr)
            return 2
        rows = _train_rows(args.dataset)
        if args.n >= rows:
            print(f"error: --n {args.n} leaves none of the {rows} train rows held back", file=sys.stderr)
            return 2
        run_churn_bench(args.dataset, args.out, inner=args.inner, modes=args.modes, n=args.n, cycles=args.cycles,
                        share=args.share, burst=args.burst, settle=args.settle, step=args.step,
                        repeats=args.repeats, queries=args.queries, singles=args.singles, batch=args.batch,
                        fresh_every=args.fresh_every, k=args.k, T=args.T, ef_search=args.ef_search,
                        pca_dim=args.pca_dim, settle_timeout=args.settle_timeout, seed=args.seed,
                        keep_work=args.keep_work, burst_vectors=args.burst_vectors)
    with open(os.path.join(args.out, NAMES[1])) as f:
        sys.stdout.write(f.read())
    return 0
