"""The page's HTTP server: waitress (a production WSGI server, pure Python), in the foreground
for ``sanny web`` or on a background thread for the tests, the screenshot and the benchmark."""
from __future__ import annotations

import contextlib
import threading


def create(app, host: str = "127.0.0.1", port: int = 0, threads: int = 4):
    """A bound waitress server (``.effective_port`` is the port; ``.run()`` serves)."""
    import logging

    from waitress import create_server

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth is 2": not news
    return create_server(app, host=host, port=port, threads=threads, ident="sanny-web",
                         max_request_body_size=app.config["MAX_CONTENT_LENGTH"])


@contextlib.contextmanager
def background(app, host: str = "127.0.0.1"):
    """Serve ``app`` on a free loopback port from a thread; yields the page's URL."""
    server = create(app, host, 0)
    t = threading.Thread(target=server.run, name="sanny-web", daemon=True)
    t.start()
    try:
        yield f"http://{host}:{server.effective_port}/"
    finally:
        stop(server)
        t.join(timeout=10)


def stop(server) -> None:
    """Finish the requests in progress, then close every connection and the listening socket
    (as WebTest's StopableWSGIServer does): the serving loop ends when nothing is left to watch."""
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=10)
    while server._map:
        for channel in list(server._map.values()):
            channel.handle_close()
