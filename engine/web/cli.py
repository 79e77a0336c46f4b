"""``sanny web``: serve the similar-image page for a running server or an index directory.

Uses the image commands' own options (``--server/--index``, ``--token-file``, the model
options), so the page extracts features exactly as ``sanny register`` did. Served by waitress
(a production WSGI server, pure Python); bound to 127.0.0.1 unless ``--host`` says otherwise.
"""
from __future__ import annotations

import argparse
import sys

from sanny.workers.errors import InvalidArgument

from ..extract.cli import _model_args, _target_args
from . import uploads

LOOPBACK = ["127.0.0.1", "localhost", "::1", "[::1]"]


def register(subparsers) -> None:
    w = subparsers.add_parser("web", help="a web page to search the index by image (drop, upload, click a result)")
    _target_args(w)
    w.add_argument("--images-root", default=".", help="where registered keys resolve to image files (thumbnails "
                                                      "are served from under it only)")
    w.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    w.add_argument("--port", type=int, default=8080, help="0: any free port (printed)")
    w.add_argument("--trusted-host", action="append", default=[],
                   help="Host header the page answers to besides the loopback names (repeatable; needed "
                        "when --host is not loopback: the guard against DNS rebinding)")
    w.add_argument("-k", type=int, default=10, help="neighbours shown (the page can change it)")
    w.add_argument("--T", type=int, help="candidates per subspace (default: the index's)")
    w.add_argument("--allow-register", action="store_true",
                   help="let the page add uploaded images to the index (stored under IMAGES_ROOT/--upload-dir)")
    w.add_argument("--upload-dir", default="uploads", help="folder under --images-root for registered uploads")
    w.add_argument("--max-upload-mb", type=float, default=uploads.DEFAULT_MAX_BYTES / 2**20,
                   help="largest upload accepted")
    w.add_argument("--threads-http", type=int, default=4, help="HTTP worker threads")
    _model_args(w)
    w.set_defaults(fn=cmd_web)


def cmd_web(args) -> int:
    from .serving import create

    app, close = build(args)
    server = create(app, args.host, args.port, args.threads_http)
    host = args.host if ":" not in args.host else f"[{args.host}]"
    print(f"sanny web: serving http://{host}:{server.effective_port}/ (Ctrl-C stops)", file=sys.stderr, flush=True)
    try:
        server.run()
    finally:
        server.close()
        close()
    return 0


def build(args):
    """``(app, close)`` from the command's arguments: extractor, backend, searcher, Flask app."""
    from ..extract.commands import _connect, _extractor, _load_pca
    from .app import create_app
    from .backend import Backend
    from .searcher import Searcher

    if args.max_upload_mb <= 0:
        raise InvalidArgument("max_upload_mb", "must be > 0")
    limits = uploads.Limits(int(args.max_upload_mb * 2**20), args.max_pixels or uploads.DEFAULT_MAX_PIXELS)
    args.loader_workers, args.no_progress = 0, True  # one picture per request, decoded in the request
    pca = _load_pca(args.pca_model) if args.pca_model else None
    ex = _extractor(args, pca)
    target, close = _connect(args)
    backend = Backend(target, f"server {args.server}" if args.server else f"embedded {args.index}")
    searcher = Searcher(ex, backend, args.images_root, limits, k=args.k, T=args.T,
                        allow_register=args.allow_register, upload_dir=args.upload_dir)
    searcher.checked_k(args.k)
    return create_app(searcher, trusted_hosts=trusted_hosts(args.host, args.trusted_host)), close


def trusted_hosts(host: str, extra: list[str]) -> list[str] | None:
    """Host header values to accept; None (any) only when bound to every interface with no
    --trusted-host, where the operator chose to be reachable by any name."""
    if host in ("0.0.0.0", "::", "") and not extra:
        print("sanny web: listening on every interface and no --trusted-host given: any Host header is "
              "accepted", file=sys.stderr)
        return None
    return sorted({*LOOPBACK, host, *extra})
