"""``sanny worker --listen HOST:PORT --data-dir DIR``: run one gRPC subspace worker.

The worker holds whatever subspaces the coordinator configures, saves to DIR when the
coordinator checkpoints, and on start reloads its newest save (the coordinator then replays
the writes it missed). Prints ``listening on HOST:PORT`` once serving (with ``:0``, the port
picked). SIGTERM/SIGINT: health goes NOT_SERVING, in-flight calls finish, the process exits.

Secure by default: on an address other than loopback it refuses to start without a token
(``--token-file``) or mutual TLS (``--tls-client-ca``), since any caller could otherwise read
and change its data; ``--insecure`` starts it anyway, with a warning.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import signal
import sys
import threading

log = logging.getLogger(__name__)


def loopback(listen: str) -> bool:
    """Whether HOST:PORT only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name, "0.0.0.0", "": reachable from elsewhere (or may be)
        return False


def cmd_worker(args) -> int:
    from .grpc_server import run_server
    from .tls import read_token, server_credentials

    creds = None
    if args.tls_cert or args.tls_key:
        if not (args.tls_cert and args.tls_key):
            print("sanny worker: error: --tls-cert and --tls-key go together", file=sys.stderr)
            return 2
        creds = server_credentials(args.tls_cert, args.tls_key, args.tls_client_ca)
    token = read_token(args.token_file) if args.token_file else None
    if not (token or args.tls_client_ca or loopback(args.listen)):
        if not args.insecure:
            print(f"sanny worker: error: {args.listen} is reachable from other machines and no caller "
                  "would need to authenticate: give --token-file (the coordinator's [workers] "
                  "token_file) or mutual TLS (--tls-cert/--tls-key/--tls-client-ca), or --insecure "
                  "to serve anyone", file=sys.stderr)
            return 2
        log.warning("--insecure: %s serves ANY caller without authentication (they can read, change "
                    "and delete this worker's data)", args.listen)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with contextlib.ExitStack() as stack:
        try:
            _, port, host = stack.enter_context(run_server(args.data_dir, args.listen, max_workers=args.threads,
                                                           credentials=creds, grace=args.grace,
                                                           token=token))
        except (OSError, RuntimeError) as e:  # port taken, data dir in use by another worker
            print(f"sanny worker: error: {e}", file=sys.stderr)
            return 2
        hostname = args.listen.rsplit(":", 1)[0]
        print(f"listening on {hostname}:{port}", flush=True)
        pos = host.position()
        print(f"data dir {host.data_dir}: " + (f"reloaded save {pos['base_tag']} (seq {pos['applied_seq']})"
                                               if pos["configured"] else "no saved state"), flush=True)
        stop.wait()
        print("shutting down", flush=True)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="run a gRPC subspace worker (for a coordinator's 'grpc' transport)")
    p.add_argument("--listen", default="127.0.0.1:7001", help="HOST:PORT (default 127.0.0.1:7001; port 0 = any)")
    p.add_argument("--data-dir", required=True, help="where the worker keeps its saves (reloaded on start)")
    p.add_argument("--threads", type=int, default=8, help="gRPC handler threads")
    p.add_argument("--grace", type=float, default=10.0, help="seconds in-flight calls get on shutdown")
    p.add_argument("--tls-cert", help="server certificate (PEM) to serve TLS")
    p.add_argument("--tls-key", help="server private key (PEM)")
    p.add_argument("--tls-client-ca", help="require client certificates issued by this CA (mutual TLS)")
    p.add_argument("--token-file", help="file holding the bearer token the coordinator must send "
                   "(its [workers] token_file)")
    p.add_argument("--insecure", action="store_true",
                   help="serve a non-loopback address without a token or mutual TLS (warned at start)")
    p.set_defaults(fn=cmd_worker)
