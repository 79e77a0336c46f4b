"""End-to-end latency of ``sanny web``'s search by uploaded image: a 1-megapixel PNG POSTed to
``/api/search`` (upload, decode, ResNet-50 forward on the CPU, index search, query thumbnail,
JSON) over HTTP to the page's own server (waitress on loopback), repeated; median and spread.

Backends: the page over an embedded index, and over ``sanny serve`` (in-process gRPC server)
through the Python client. Weights: seeded random ResNet-50 (same cost as ImageNet weights;
nothing downloaded). Writes ``OUT.json`` and ``OUT.md``.

    python -m experiments.web_latency --repeats 20 --out experiments/results/web-latency/web-latency
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from tqdm import tqdm

from sanny.bench import provenance


def photo_png(side: int = 1000, seed: int = 0) -> bytes:
    """A 1000 x 1000 PNG shaped like a photo for the encoder: smooth areas, edges and sensor-like
    noise (so it compresses like one, ~1.5-2 MB, not like a flat test card)."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, side)
    base = (np.outer(t, rng.uniform(60, 200, 3)) + np.outer(1 - t, rng.uniform(60, 200, 3)))[:, None, :]
    im = Image.fromarray(np.broadcast_to(base, (side, side, 3)).astype(np.uint8))
    d = ImageDraw.Draw(im)
    for _ in range(25):
        x, y, r = (int(v) for v in rng.integers(0, side, 2)), None, int(rng.integers(20, side // 4))
        x0, y0 = x
        d.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    a = np.asarray(im.filter(ImageFilter.GaussianBlur(2)), np.int16) + rng.normal(0, 6, (side, side, 3)).astype(np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def run(repeats: int, warmup: int, n: int, threads: int | None) -> dict:
    import urllib3

    from sanny.engine import Index, IndexConfig
    from sanny.engine.api.client import Client
    from sanny.engine.api.server import run_server
    from sanny.engine.extract.extractor import Extractor
    from sanny.engine.web.app import create_app
    from sanny.engine.web.backend import Backend
    from sanny.engine.web.searcher import Searcher
    from sanny.engine.web.serving import background

    png = photo_png()
    load = os.getloadavg()  # the machine may be shared: say how busy it was
    ex = Extractor("resnet50", "random", threads=threads, loader_workers=0, progress=False)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="sanny-web-bench-") as d:
        ix = Index.create(os.path.join(d, "ix"), IndexConfig(dim=ex.dim, S=1))
        rng = np.random.default_rng(1)
        ix.insert([f"img{i:05d}.jpg" for i in range(n)], rng.random((n, ex.dim), np.float32))
        http = urllib3.PoolManager()
        with run_server(ix) as (_, port):
            client = Client(f"127.0.0.1:{port}", timeout=30)
            for name, target in (("embedded", ix), ("server", client)):
                app = create_app(Searcher(ex, Backend(target, name), d, k=10))
                with background(app) as url:
                    ms, stages = [], []
                    for i in tqdm(range(warmup + repeats), desc=name, unit="req"):
                        t0 = time.perf_counter()
                        r = http.request("POST", url + "api/search", fields={"image": ("photo.png", png, "image/png")})
                        dt = 1e3 * (time.perf_counter() - t0)
                        if r.status != 200 or len(r.json()["results"]) != 10:
                            raise RuntimeError(f"{name}: {r.status} {r.data[:200]!r}")
                        if i >= warmup:
                            ms.append(dt)
                            stages.append(r.json()["timing"])
                rows[name] = summary(ms) | {f"{k}_median": statistics.median(s[k] for s in stages) for k in stages[0]}
            client.close()
        ix.close()
    import torch

    return {"png_bytes": len(png), "pixels": 1000 * 1000, "model": "resnet50 (random weights), 224 px input",
            "index_vectors": n, "repeats": repeats, "warmup": warmup, "torch_threads": torch.get_num_threads(), "cores": os.cpu_count(),
            "load_before": load, "load_after": os.getloadavg(), "backends": rows, "provenance": provenance.collect()}


def summary(ms: list[float]) -> dict:
    q = np.percentile(ms, [10, 50, 90])
    return {"median_ms": float(q[1]), "p10_ms": float(q[0]), "p90_ms": float(q[2]), "min_ms": min(ms),
            "max_ms": max(ms), "stdev_ms": statistics.stdev(ms) if len(ms) > 1 else 0.0, "runs_ms": ms}


def markdown(res: dict, command: str) -> str:
    lines = [f"# sanny web: search by an uploaded {res['pixels'] / 1e6:.0f}-megapixel PNG, end to end",
             "", f"`{command}`", "",
             f"PNG of {res['png_bytes'] / 2**20:.2f} MiB POSTed to `/api/search` over loopback HTTP; "
             f"{res['model']}, {res['torch_threads']} torch threads, {res['index_vectors']} vectors in the "
             f"index, k=10; {res['repeats']} timed requests after {res['warmup']} warm-up. Load average (1, 5, 15 min) "
             f"before: {', '.join(f'{v:.1f}' for v in res['load_before'])}; after: "
             f"{', '.join(f'{v:.1f}' for v in res['load_after'])} on {res.get('cores', os.cpu_count())} cores.", "",
             "| backend | median ms | p10 | p90 | min | max | features ms (median) | search ms (median) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in res["backends"].items():
        lines.append(f"| {name} | {r['median_ms']:.0f} | {r['p10_ms']:.0f} | {r['p90_ms']:.0f} | {r['min_ms']:.0f} | "
                     f"{r['max_ms']:.0f} | {r['features_ms_median']:.0f} | {r['search_ms_median']:.1f} |")
    lines += ["", "features ms: decoded picture -> vector (the network); the rest of the end-to-end time "
              "is the upload, PNG decode, query thumbnail and HTTP.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--n", type=int, default=10000, help="vectors in the index")
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--out", default="experiments/results/web-latency/web-latency")
    p.add_argument("--report", metavar="OUT", help="only re-render OUT.md from OUT.json")
    a = p.parse_args(argv)
    if a.report:
        with open(a.report + ".json") as f:
            res = json.load(f)
        with open(a.report + ".md", "w") as f:
            f.write(markdown(res, res["command"]))
        return 0
    res = run(a.repeats, a.warmup, a.n, a.threads)
    command = "python -m experiments.web_latency " + " ".join(argv if argv is not None else sys.argv[1:])
    res["command"] = command
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(a.out + ".md", "w") as f:
        f.write(markdown(res, command))
    print(markdown(res, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
