"""``sanny info --server ADDR``: what a running ``sanny serve`` holds — counts, search settings
and each worker column of its grid with its state — read over gRPC (``IndexInfo``), since the
server keeps its index directory open (``sanny info DIR`` then says so)."""
from __future__ import annotations

import json


def server_lines(info: dict) -> list[tuple[str, object]]:
    """(name, value) lines like ``info_text.info_lines``, from an ``IndexInfo`` answer."""
    lines = [("count", f"{info['count']:,}"), ("dim", info["dim"]), ("metric", info["metric"]),
             ("S", info["subspaces"]), ("search", f"T={info['default_candidates']} epsilon={info['default_epsilon']}"),
             ("trained", info["trained"]), ("wal seq", info["wal_seq"]), ("workers", len(info["workers"]))]
    for i, w in enumerate(info["workers"]):
        state = w["state"].replace("WORKER_STATE_", "").lower()
        mib = (w["index_bytes"] + w["slice_bytes"]) / 2**20
        text = (f"{i}: subspaces {list(w['subspaces'])} {state} ({w['transport'] or '?'}, {w['inner'] or '?'}) "
                f"{w['count']:,} vectors {mib:.1f} MiB")
        lines.append(("worker", text + (f"; {w['error']}" if w["error"] else "")))
    return lines


def cmd_info_server(args) -> int:
    from sanny.workers.errors import InvalidArgument
    from sanny.workers.tls import read_token

    from .client import Client

    if not args.server:
        raise InvalidArgument("index", "give an index directory, or --server ADDR of a running sanny serve")
    token = read_token(args.token_file) if args.token_file else None
    with Client(args.server, token=token) as c:
        info = c.info(timeout=30)
    if args.json:
        print(json.dumps({"server": args.server, **info}, indent=1))
        return 0
    for name, value in [("server", args.server), *server_lines(info)]:
        print(f"{name:<8} {value}")
    return 0
