"""``sanny info``'s human summary: a few (name, value) lines from ``Index.info()``."""
from __future__ import annotations


def info_lines(info: dict, grid: dict | None) -> list[tuple[str, object]]:
    """Count, shape, search settings and memory; the grid's cells when it has row shards/replicas."""
    c = info["config"]
    inner = c["inner"]
    mem = sum(int(w.get("index_bytes", 0)) + int(w.get("slice_bytes", 0)) for w in info["workers"] if isinstance(w, dict))
    n_workers = len(info["layout"]["groups"]) if info.get("layout") else 0
    pca = f"{c['pca_dim']} of {c['dim']} dims" if c["pca_dim"] else "off"
    lines = [("path", info["path"]), ("count", f"{info['count']:,}"), ("dim", c["dim"]),
             ("metric", c["metric"]), ("S", f"{c['S']} ({c['assignment']})"), ("PCA", pca),
             ("inner", f"{inner['kind']} ({inner.get('graph', '')})" if inner["kind"] == "ngt" else inner["kind"]),
             ("workers", n_workers), ("search", f"T={c['T']} epsilon={c['epsilon']}"),
             ("trained", info["trained"]), ("wal seq", info["wal_seq"])]
    if mem:
        lines.append(("memory", f"{mem / 2**20:.1f} MiB (workers)"))
    seg = info.get("segments")
    if seg:
        lines.append(("segments", f"{seg['segments']} sealed over {seg['workers']} worker(s): "
                                  f"{seg['sealed_rows']:,} rows, {seg['deleted_share']:.1%} deleted; "
                                  f"{seg['growing_rows']:,} growing"))
        lines.append(("compact", f"{seg['compaction']} ({seg['merges']} merges, "
                                 f"{seg['compaction_cpu_seconds']:.1f} s CPU)"))
    if grid:
        lines.append(("grid", grid["shape"]))
        lines += [("cell", c) for c in grid["cells"]]
    return lines
