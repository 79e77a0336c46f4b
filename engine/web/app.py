"""The Flask application: one page and its JSON endpoints.

``GET /`` the page; ``GET /api/info`` the index at a glance; ``POST /api/search`` (multipart
field ``image``, optional ``k``) and ``POST /api/search-key`` (JSON ``{"key", "k"}``) neighbours;
``POST /api/register`` (only with ``allow_register``; Flask-WTF's CSRF token in the
``X-CSRFToken`` header); ``GET /thumb?key=K`` a JPEG of the file K names under the images root.

Every failure answers ``{"error": one line}`` with a fitting status, never a traceback. Keys are
put on the page with ``textContent`` by the script (and by Jinja's autoescape in the template);
the Content-Security-Policy allows no inline script, so even a missed escape could not run.
"""
from __future__ import annotations

import logging
import os

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from sanny.workers.errors import (AlreadyExists, DeadlineExceeded, InvalidArgument, NotFound,
                                  SannyError, WorkerUnavailable)

from . import uploads
from .backend import one_line
from .uploads import Refused

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields beside the image


def create_app(searcher, *, trusted_hosts: list[str] | None = None, secret_key: bytes | None = None) -> Flask:
    """``trusted_hosts``: Host header values accepted (DNS-rebinding guard); None accepts any."""
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret_key or os.urandom(32), TRUSTED_HOSTS=trusted_hosts,
                      MAX_CONTENT_LENGTH=searcher.limits.max_bytes + FORM_OVERHEAD,
                      WTF_CSRF_TIME_LIMIT=None, WTF_CSRF_SSL_STRICT=False,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    csrf = CSRFProtect(app)

    @app.get("/")
    def page():
        return render_template("index.html", allow_register=searcher.allow_register, k=searcher.k,
                               max_bytes=searcher.limits.max_bytes, max_pixels=searcher.limits.max_pixels,
                               model=searcher.describe())

    @app.get("/api/info")
    def info():
        return jsonify({**searcher.backend.info(), "model": searcher.describe(),
                        "allow_register": searcher.allow_register})

    @app.post("/api/search")
    @csrf.exempt  # a read: scripts may POST an image with curl; a foreign page cannot read the answer
    def search():
        up = searcher.read(*_upload())
        return jsonify(searcher.by_upload(up, request.form.get("k")))

    @app.post("/api/search-key")
    @csrf.exempt
    def search_key():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Refused('expected a JSON object {"key": ..., "k": ...}')
        return jsonify(searcher.by_key(body.get("key"), body.get("k")))

    @app.post("/api/register")
    def register():
        if not searcher.allow_register:
            raise Refused("registering is off on this page (start 'sanny web' with --allow-register)", 403)
        return jsonify(searcher.register(searcher.read(*_upload())))

    if not searcher.allow_register:
        csrf.exempt(register)  # it refuses every request: say why, not "CSRF token missing"

    @app.get("/thumb")
    def thumb():
        data = uploads.thumbnail(searcher.root, request.args.get("key", ""), searcher.limits.max_pixels)
        if data is None:
            return "no image for this key under the images root", 404, {"Content-Type": "text/plain; charset=utf-8"}
        return data, 200, {"Content-Type": "image/jpeg", "Cache-Control": "private, max-age=300"}

    @app.after_request
    def headers(resp):
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        return resp

    @app.errorhandler(Exception)
    def failed(e):
        status, message = error_status(e, searcher.limits)
        if status >= 500 and not isinstance(e, (SannyError, Refused, HTTPException)):
            log.exception("request failed")
        return jsonify({"error": message}), status

    return app


def _upload():
    f = request.files.get("image")
    if f is None:
        raise Refused("no image in the request (multipart field 'image')")
    return f.stream, f.filename or "upload"


def error_status(e: BaseException, limits: uploads.Limits) -> tuple[int, str]:
    """(HTTP status, one line for a person) for anything a request raised."""
    if isinstance(e, Refused):
        return e.status, str(e)
    if isinstance(e, RequestEntityTooLarge):
        return 413, uploads.too_large(limits)
    if isinstance(e, CSRFError):
        return 400, f"refused: {e.description} Reload the page and try again."
    if isinstance(e, HTTPException):
        return e.code or 500, e.description or e.name
    if isinstance(e, WorkerUnavailable):  # also the Client's ServiceUnavailable: no server there
        return 503, f"the index is unavailable: {one_line(e)}"
    if isinstance(e, DeadlineExceeded):
        return 504, f"the index did not answer in time: {one_line(e)}"
    for cls, status in ((InvalidArgument, 400), (NotFound, 404), (AlreadyExists, 409)):
        if isinstance(e, cls):
            return status, one_line(e)
    if isinstance(e, SannyError):  # ServiceError: UNAUTHENTICATED (token), RESOURCE_EXHAUSTED, ...
        return 502, f"the index refused the request: {one_line(e)}"
    return 500, f"internal error ({type(e).__name__}); the details are in the log of 'sanny web'"
