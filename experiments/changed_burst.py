"""A burst of upserts that change every vector a little, then batch QPS and recall every 5 s
against the same index fresh (bench-churn's burst upserts unchanged vectors, which the engine
now recognises as writes that change nothing; this one makes every upsert a real write).

    python -m experiments.changed_burst DATA.hdf5 symqg 30000 experiments/results/changed-burst
"""
import sys, time, tempfile, numpy as np, h5py, faiss, json
from sanny.engine import Index, IndexConfig
from sanny.workers.base import InnerParams
path, kind, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with h5py.File(path) as f:
    metric = f.attrs["distance"]; X = np.asarray(f["train"][:n], np.float32); Q = np.asarray(f["test"][:], np.float32)
ang = metric == "angular"
if ang:
    X /= np.linalg.norm(X, axis=1, keepdims=True); Q /= np.linalg.norm(Q, axis=1, keepdims=True)
m = "cosine" if ang else "l2"
kw = dict(T=10, ef_search=48) if kind == "symqg" else dict(T=40)
def gt(xl):
    ix = faiss.IndexFlatL2(X.shape[1]); ix.add(xl); return ix.search(Q, 10)[1]
keys = np.array([f"k{i}" for i in range(n)])
def measure(ix, xl, g, tag, t0):
    t = []
    for r in range(3):
        a = time.perf_counter(); k, _ = ix.search(Q, 10, **kw); t.append(time.perf_counter() - a)
    rec = np.mean([len(set(k[i]) & set(keys[g[i]])) / 10 for i in range(len(Q))])
    seg = ix.segments()
    row = dict(tag=tag, t=round(time.perf_counter() - t0, 1), recall=round(float(rec), 4), qps=round(len(Q) / float(np.median(t))),
               segs=seg["segments"], growing=seg["growing_rows"], dead=seg["deleted_rows"], comp=seg["compaction"])
    print(json.dumps(row), flush=True); return row
d = tempfile.mkdtemp()
ix = Index.create(d + "/ix", IndexConfig(dim=X.shape[1], S=1, metric=m, inner=InnerParams(kind=kind)))
for a in range(0, n, 1000): ix.insert(list(keys[a:a+1000]), X[a:a+1000])
ix.build(); ix.wait_compaction(300)
g0 = gt(X); T0 = time.perf_counter()
fresh = measure(ix, X, g0, "fresh", T0)
rng = np.random.default_rng(0)
cur = X.copy()
t0 = time.perf_counter()
for r in range(2):
    for a in range(0, n, 1000):
        v = X[a:a+1000] + rng.normal(0, 1e-4, (min(1000, n - a), X.shape[1])).astype(np.float32)
        if ang: v /= np.linalg.norm(v, axis=1, keepdims=True)
        cur[a:a+1000] = v
        ix.upsert(list(keys[a:a+1000]), v)
print("burst seconds", round(time.perf_counter() - t0, 1), flush=True)
g1 = gt(cur); T1 = time.perf_counter()
rows = [measure(ix, cur, g1, "after", T1)]
while time.perf_counter() - T1 < 60:
    time.sleep(5); rows.append(measure(ix, cur, g1, "settling", T1))
for r in rows: r["qps_ratio"] = round(r["qps"] / fresh["qps"], 3)
import os
os.makedirs(out, exist_ok=True)
name = os.path.basename(path)
cmd = f"python -m experiments.changed_burst DATA.hdf5 {kind} {n} {out}"
with open(os.path.join(out, f"{kind}.json"), "w") as f:
    json.dump({"command": cmd, "dataset": name, "fresh": fresh, "rows": rows}, f, indent=1)
lines = [f"# 2x upserts with changed vectors: {name}, {kind}, n={n}", "", f"`{cmd}`", "",
         f"fresh: recall {fresh['recall']}, batch QPS {fresh['qps']:,}", "",
         "| point | s after the burst | recall | batch QPS | x fresh | segments | growing rows | compaction |",
         "|---|---|---|---|---|---|---|---|"]
for r in rows:
    lines.append(f"| {r['tag']} | {r['t']} | {r['recall']} | {r['qps']:,} | {r['qps_ratio']} | {r['segs']} | {r['growing']:,} | {r['comp']} |")
with open(os.path.join(out, f"{kind}.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
