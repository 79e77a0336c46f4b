"""``sanny bench-ingest``: ingest rate (embedded / gRPC / Vald) and single-query latency quiet vs
busy neighbours; see :mod:`.ingest` and :mod:`.ingest_latency`. Writes ingest.json,
then ingest.md and ingest.png from it (``--report-only`` redoes those two from the JSON)."""
from __future__ import annotations

import argparse
import os
import shutil
import sys

from tqdm import tqdm

from .arglists import choices
from .ingest import PATHS


def run_ingest_bench(dataset: str, out: str, *, n: int | None = None, batch: int = 1000, repeats: int = 3,
                     inner=("hnsw",), paths=PATHS, busy: int = 2, queries: int = 500, k: int = 10,
                     T: int | None = None, pca_dim: int = 0, keep_work: bool = False, ef_search: int = 0,
                     baseline_ef: int = 16) -> dict:
    """Measure, write ingest.json, render ingest.md / ingest.png; returns the JSON document."""
    from . import ingest, ingest_latency, ingest_report, provenance

    data = ingest.load(dataset, n, queries)
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    paths = list(paths)
    skipped = []
    if "vald" in paths and not ingest.vald_available():
        paths.remove("vald")
        skipped.append("vald (vald-client-python not installed: extra 'vald')")
    doc = {"dataset": data.name, "n": data.n, "dim": data.dim, "metric": data.metric, "cpus": os.cpu_count(),
           "settings": {"batch": batch, "repeats": repeats, "inner": list(inner), "paths": paths, "busy": busy,
                        "queries": len(data.test), "k": k, "T": T, "pca_dim": pca_dim, "S": 1,
                        "ef_search": ef_search, "baseline_ef": baseline_ef},
           "ingest": [], "latency": [], "skipped": skipped,
           "provenance": {**provenance.collect(), "dataset_file": os.path.basename(dataset)}}
    try:
        for kind in inner:
            cfg = ingest.config(data, kind, pca_dim, T)
            doc["settings"]["T"] = cfg.T
            built = None
            try:
                for path in paths:
                    runs = []
                    with tqdm(total=data.n * repeats, desc=f"ingest {kind}/{path}", unit="vec") as bar:
                        for r in range(repeats):
                            keep = path == "embedded" and r == repeats - 1
                            root = os.path.join(work, f"{kind}-{path}")
                            run, ix = ingest.ingest_once(path, root, cfg, data, batch, bar, keep_open=keep)
                            runs.append(run)
                            built = ix or built
                    doc["ingest"].append(ingest.summarise(kind, path, runs))
                if built is None:  # no embedded path asked for: build one for the latency phase
                    with tqdm(total=data.n, desc=f"build {kind} for latency", unit="vec") as bar:
                        _, built = ingest.ingest_once("embedded", os.path.join(work, f"{kind}-embedded"),
                                                      cfg, data, batch, bar, keep_open=True)
                with tqdm(total=2 * len(data.test) * repeats, desc=f"latency {kind}", unit="query") as bar:
                    opts = {"T": cfg.T, "ef_search": ef_search}
                    lat = ingest_latency.quiet_vs_busy(built, data, k, opts, busy, repeats, bar)
                doc["latency"].append({"inner": kind, **lat})
            finally:
                if built is not None:
                    built.close(save=False)
        if baseline_ef:
            peer = ingest_latency.faiss_hnsw_peer(data.train, data.metric, baseline_ef)
            with tqdm(total=2 * len(data.test) * repeats, desc="latency faiss HNSW", unit="query") as bar:
                lat = ingest_latency.quiet_vs_busy(peer, data, k, {}, busy, repeats, bar)
            doc["latency"].append({"inner": peer.name, **lat})
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    ingest_report.write_json(doc, out)
    return ingest_report.render(out)


def register(subparsers) -> None:
    from sanny.workers.inner import INNER_KINDS

    p = subparsers.add_parser(
        "bench-ingest", help="ingest rate (embedded / gRPC / Vald) and single-query latency quiet vs busy",
        description="Writes the first N vectors of an ann-benchmarks file in batches into fresh S=1 indexes "
                    "(embedded Index.insert + build, sanny.v1 Insert, vald.v1 MultiInsert; servers on 127.0.0.1 "
                    "port 0 in this process), then times single queries on the built index, quiet and with "
                    "--busy busy-loop processes. Writes ingest.json, ingest.md, ingest.png to --out.")
    p.add_argument("dataset", nargs="?", help="ann-benchmarks HDF5 file (not needed with --report-only)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n", type=int, help="first N train vectors (default: all)")
    p.add_argument("--batch", type=int, default=1000, help="vectors per insert call / request (default 1000)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats, each into a fresh index (default 3)")
    p.add_argument("--inner", type=choices(INNER_KINDS), default=["hnsw"],
                   help=f"inner index kinds, comma-separated, of {', '.join(INNER_KINDS)} (default hnsw)")
    p.add_argument("--paths", type=choices(PATHS), default=list(PATHS),
                   help="ingest paths, comma-separated (default embedded,grpc,vald)")
    p.add_argument("--busy", type=int, default=2, help="busy-loop processes in the busy latency phase (default 2)")
    p.add_argument("--queries", type=int, default=500, help="test queries timed one by one (default 500)")
    p.add_argument("-k", "--k", type=int, default=10, help="neighbours per query")
    p.add_argument("--T", type=int, help="candidates per subspace (default: the index's)")
    p.add_argument("--ef-search", type=int, default=0, help="graph beam of the timed searches (0: T)")
    p.add_argument("--baseline-ef", type=int, default=16,
                   help="also time faiss HNSW (M=16) single queries at this efSearch, quiet and busy (0: off)")
    p.add_argument("--pca-dim", type=int, default=0, help="PCA to this many dims (0: off; trained untimed)")
    p.add_argument("--keep-work", action="store_true", help="keep the index directories under OUT/work")
    p.add_argument("--report-only", action="store_true", help="only rewrite ingest.md / ingest.png from ingest.json")
    p.set_defaults(fn=main)


def main(args: argparse.Namespace) -> int:
    from . import docfiles
    from .ingest_report import NAMES, render
    from .plot import require

    require()  # matplotlib, before the run rather than at its first plot

    if args.report_only:
        if not docfiles.present((args.out,), NAMES[0]):
            return 2
        render(args.out)
    else:
        if not args.dataset or not os.path.isfile(args.dataset):
            print(f"error: dataset {args.dataset!r} not found", file=sys.stderr)
            return 2
        counts = (args.batch, args.repeats, args.queries, args.k, args.n or 1)
        if min(counts) < 1 or min(args.busy, args.ef_search, args.baseline_ef) < 0:
            print("error: --batch, --repeats, --queries, -k and --n must be positive, --busy and --ef-search >= 0",
                  file=sys.stderr)
            return 2
        run_ingest_bench(args.dataset, args.out, n=args.n, batch=args.batch, repeats=args.repeats,
                         inner=args.inner, paths=args.paths, busy=args.busy, queries=args.queries, k=args.k,
                         T=args.T, pca_dim=args.pca_dim, keep_work=args.keep_work, ef_search=args.ef_search,
                         baseline_ef=args.baseline_ef)
    with open(os.path.join(args.out, NAMES[1])) as f:
        sys.stdout.write(f.read())
    return 0
