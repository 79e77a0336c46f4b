"""``sanny serve``: run the coordinator's gRPC server over an index directory.

    sanny serve --index DIR [--create --dim D --S S --metric l2] [--listen 127.0.0.1:50051]
                [--config FILE.toml] [--tls-cert CERT --tls-key KEY] [--token-file FILE]

Workers are embedded (one process) unless the config file has a ``[workers]`` table, which
``sanny.workers.transports.factory_from_config`` turns into remote workers. Command-line flags
override the file. SIGTERM / SIGINT: health goes NOT_SERVING, in-flight calls get ``grace``
seconds, then the index is saved and closed.

Config file (TOML, or YAML if PyYAML is installed)::

    [server]
    listen = "127.0.0.1:50051"
    max_message_mb = 64
    grace = 10
    threads = 16
    tls_cert = "server.crt"       # with tls_key; tls_client_ca for mutual TLS
    tls_key = "server.key"
    token_file = "token.txt"      # clients send "authorization: Bearer <token>"
                                  # (relative paths: from the config file's folder)

    [index]                       # used by --create when the directory holds no index yet
    dim = 2048
    S = 16
    metric = "cosine"
    inner = { kind = "ngt", edge_size_for_search = 40 }

    [workers]                     # remote workers (Ray / gRPC): see sanny.workers.transports
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import threading

from sanny.workers.errors import InvalidArgument, WorkerUnavailable
from sanny.workers.inner import INNER_KINDS

from ..limits import Limits

log = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:50051"
PATH_KEYS = ("tls_cert", "tls_key", "tls_client_ca", "token_file")


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve an index over gRPC (sanny.v1.Sanny, health, reflection)")
    p.add_argument("--index", required=True, help="index directory")
    p.add_argument("--create", action="store_true", help="create the index if the directory holds none")
    g = p.add_argument_group("new index (with --create; or the config file's [index] table)")
    g.add_argument("--dim", type=int)
    g.add_argument("--S", type=int)
    g.add_argument("--metric", choices=["l2", "cosine", "ip"])
    g.add_argument("--inner", choices=INNER_KINDS)
    p.add_argument("--listen", help=f"HOST:PORT (default {DEFAULT_LISTEN}; port 0 picks a free one)")
    p.add_argument("--config", help="TOML (or YAML) file: [server], [index], [workers] tables")
    p.add_argument("--tls-cert", help="server certificate (PEM); needs --tls-key")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="require client certificates signed by this CA (mutual TLS)")
    p.add_argument("--token-file", help="file holding the bearer token clients must send")
    p.add_argument("--max-message-mb", type=float, help="largest request/response in MiB (default 64)")
    p.add_argument("--grace", type=float, help="seconds in-flight calls get on shutdown (default 10)")
    p.add_argument("--threads", type=int, help="RPC handler threads (default 16)")
    p.add_argument("--limit", action="append", metavar="NAME=VALUE",
                   help="request limit (repeatable; names in sanny.engine.limits.Limits, also the [limits] table)")
    p.add_argument("--checkpoint-mb", type=float, help="checkpoint when the WAL reaches this size (default 64)")
    p.add_argument("--checkpoint-seconds", type=float, help="checkpoint this long after a write (default 300)")
    p.add_argument("--checkpoint-records", type=int, help="checkpoint after this many WAL records (default 1000)")
    p.set_defaults(fn=cmd_serve)


def _pair(text: str) -> tuple[str, str]:
    name, eq, value = text.partition("=")
    if not eq:
        raise InvalidArgument("limit", f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def load_config(path: str | None) -> dict:
    if not path:
        return {}
    if path.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ModuleNotFoundError:
            raise InvalidArgument("config", "YAML config files need PyYAML (pip install pyyaml); "
                                            "or use TOML") from None
        with open(path) as f:
            cfg = yaml.safe_load(f) or {}
    else:
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        with open(path, "rb") as f:
            try:
                cfg = tomllib.load(f)
            except tomllib.TOMLDecodeError as e:
                raise InvalidArgument("config", f"{path}: {e}") from None
    if not isinstance(cfg, dict):
        raise InvalidArgument("config", f"{path}: expected tables at the top level")
    server = cfg.get("server", {})
    for name in PATH_KEYS:  # relative to the config file, not to the working directory
        if isinstance(server.get(name), str):
            server[name] = os.path.join(os.path.dirname(os.path.abspath(path)), os.path.expanduser(server[name]))
    return cfg


def worker_factory(cfg: dict):
    """None (embedded workers) or the remote-worker factory the ``[workers]`` table describes."""
    if "workers" not in cfg:
        return None
    from sanny.workers import transports

    return transports.factory_from_config(cfg)


def open_index(args, cfg: dict, factory):
    from ..config import IndexConfig
    from ..index import Index

    exists = os.path.exists(os.path.join(args.index, "manifest.json"))
    if not exists and not args.create and not (os.path.isdir(args.index) and os.listdir(args.index)):
        raise InvalidArgument("index", f"{args.index!r} does not exist (pass --create --dim D to make a new index)")
    if exists or not args.create:
        ix = Index.open(args.index, worker_factory=factory)
        given = {k: getattr(args, k) for k in ("dim", "S", "metric") if getattr(args, k) is not None}
        wrong = {k: v for k, v in given.items() if getattr(ix.config, k) != v}
        if wrong:
            ix.close(save=False)
            raise InvalidArgument(next(iter(wrong)), f"{args.index} holds an index with "
                                  + ", ".join(f"{k}={getattr(ix.config, k)!r}" for k in wrong)
                                  + f", not {wrong}")
        return ix
    spec = dict(cfg.get("index", {}))
    for k in ("dim", "S", "metric"):
        if getattr(args, k) is not None:
            spec[k] = getattr(args, k)
    if args.inner:
        spec["inner"] = {**spec.get("inner", {}), "kind": args.inner}
    if "dim" not in spec:
        raise InvalidArgument("dim", "--create needs --dim (or dim in the config's [index] table)")
    log.info("creating index %s: %s", args.index, spec)
    return Index.create(args.index, IndexConfig.from_dict(spec), worker_factory=factory)


def _undo_create(path: str, keep_dir: bool) -> None:
    """Remove the index a failed ``--create`` made (the directory too unless it was there, empty)."""
    if not keep_dir:
        shutil.rmtree(path, ignore_errors=True)
        return
    for name in os.listdir(path):
        p = os.path.join(path, name)
        shutil.rmtree(p, ignore_errors=True) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)


def cmd_serve(args) -> int:
    from .server import DEFAULT_MAX_MESSAGE_BYTES, run_server

    cfg = load_config(args.config)
    srv = cfg.get("server", {})

    def opt(name, default=None):
        v = getattr(args, name, None)
        return v if v is not None else srv.get(name, default)

    token = None
    if opt("token_file"):
        with open(opt("token_file")) as f:
            token = f.read().strip()
        if not token:
            raise InvalidArgument("token_file", f"{opt('token_file')} is empty")
    if bool(opt("tls_cert")) != bool(opt("tls_key")):
        raise InvalidArgument("tls_key" if opt("tls_cert") else "tls_cert", "TLS needs both --tls-cert and --tls-key")
    mb = opt("max_message_mb")
    listen = opt("listen", DEFAULT_LISTEN)

    stop = threading.Event()

    def on_signal(signum, frame):
        log.info("%s: shutting down", signal.Signals(signum).name)
        stop.set()

    workers = cfg.get("workers")
    if token and isinstance(workers, dict) and workers.get("transport", "grpc") == "grpc" \
            and not (workers.get("token") or workers.get("token_file")):
        workers["token"] = token  # auth on the coordinator: its workers require a token too
    limits = Limits.from_dict({**cfg.get("limits", {}), **dict(_pair(v) for v in args.limit or [])})
    existed = os.path.isdir(args.index)
    fresh = not (existed and os.listdir(args.index))  # what --create makes here is ours to undo on failure
    ix = open_index(args, cfg, worker_factory(cfg))
    serving = False
    ix.start_checkpoints(wal_bytes=int(float(opt("checkpoint_mb", 64)) * 2**20),
                         seconds=float(opt("checkpoint_seconds", 300)),
                         records=int(opt("checkpoint_records", 1000)))
    try:
        with run_server(ix, listen, limits=limits,
                        max_message_bytes=int(mb * 2**20) if mb else DEFAULT_MAX_MESSAGE_BYTES,
                        max_workers=int(opt("threads", 16)), token=token, tls_cert=opt("tls_cert"),
                        tls_key=opt("tls_key"), tls_client_ca=opt("tls_client_ca"),
                        grace=float(opt("grace", 10.0))) as (server, port):
            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            serving = True
            where = listen if listen.startswith("unix:") else f"{listen.rsplit(':', 1)[0]}:{port}"
            print(f"sanny: serving {args.index} ({len(ix)} vectors) on {where}", flush=True)
            while not stop.wait(0.5):
                pass
        try:
            ix.save()
            log.info("index saved (wal seq %d)", ix.seq)
        except WorkerUnavailable as e:  # a degraded grid: the next start replays the WAL instead
            log.warning("final checkpoint skipped, the WAL keeps every write: %s", e)
    finally:
        ix.close(save=False)
        if not serving and fresh:  # never served (a taken port, bad TLS files): leave no new index
            _undo_create(args.index, existed)
    return 0
