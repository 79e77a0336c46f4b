"""``sanny web --server`` as a user runs it: a child process in front of a running gRPC server
that needs a token. The token passes through (searches work; a wrong one gets a message),
the page in Chromium finds a copy first and searches by a clicked result (the server's
SearchByKey), and ``curl``-style multipart POSTs work without the page."""
from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading

import pytest

pytest.importorskip("torch")
pytest.importorskip("flask_wtf")
pytest.importorskip("selenium")

import urllib3  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from sanny.engine.api.server import run_server  # noqa: E402

from extract_helpers import SIZE, checkpoint, variants  # noqa: E402,F401
from web_helpers import WAIT, acted, choose, driver, extractor, load, make_index, results  # noqa: E402,F401

TOKEN = "s3cret-web-token"


@pytest.fixture(scope="module")
def grpc_server(tmp_path_factory, checkpoint):  # noqa: F811
    tmp = tmp_path_factory.mktemp("webcli")
    ix, keys = make_index(tmp / "ix", extractor(checkpoint), tmp / "pics", 8, hostile=False)
    with run_server(ix, token=TOKEN) as (_, port):
        yield f"127.0.0.1:{port}", tmp, keys
    ix.close()


def web_args(addr, tmp, ck, token_file) -> list[str]:
    return ["web", "--server", addr, "--token-file", str(token_file), "--images-root", str(tmp / "pics"),
            "--weights", ck, "--image-size", str(SIZE), "--port", "0", "-k", "4"]


@pytest.fixture(scope="module")
def web(grpc_server, checkpoint):  # noqa: F811
    addr, tmp, keys = grpc_server
    (tmp / "token").write_text(TOKEN + "\n")
    p = subprocess.Popen([sys.executable, "-m", "sanny.engine", *web_args(addr, tmp, checkpoint, tmp / "token")],
                         stderr=subprocess.PIPE, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in p.stderr] + [lines.put(None)], daemon=True).start()
    url, seen = None, []
    while url is None:
        ln = lines.get(timeout=WAIT)  # the child prints its URL once it listens
        assert ln is not None, f"sanny web exited with {p.wait()}:\n{''.join(seen)}"
        seen.append(ln)
        m = re.search(r"serving (http://127\.0\.0\.1:\d+/)", ln)
        url = m.group(1) if m else None
    try:
        yield url, tmp, keys
    finally:
        p.terminate()
        p.wait(timeout=WAIT)


def test_token_passes_through_for_scripts(web):
    url, tmp, keys = web
    http = urllib3.PoolManager()
    info = http.request("GET", url + "api/info").json()
    assert info["ok"] and info["health"] == "SERVING" and info["count"] == 8 and info["dim"] == 2048
    assert info["backend"].startswith("server 127.0.0.1:")
    data = (tmp / "pics" / keys[2]).read_bytes()
    r = http.request("POST", url + "api/search", fields={"image": (keys[2], data, "image/png"), "k": "3"})
    assert r.status == 200, r.data
    got = r.json()["results"]
    assert len(got) == 3 and got[0]["key"] == keys[2] and got[0]["distance"] < 1e-3
    r = http.request("POST", url + "api/register", fields={"image": ("x.png", data, "image/png")})
    assert r.status == 403 and "--allow-register" in r.json()["error"]  # off by default


def test_page_over_a_server_searches_and_clicks(web, driver):  # noqa: F811
    url, tmp, keys = web
    q = variants(str(tmp / "pics" / keys[5]), str(tmp / "q"))
    load(driver, url)
    WebDriverWait(driver, WAIT).until(lambda d: "SERVING" in d.find_element(By.ID, "info").text)
    assert choose(driver, q["copy"]) == "done"
    assert results(driver)[0][0] == keys[5]
    third = results(driver)[2][0]
    assert acted(driver, driver.find_elements(By.CSS_SELECTOR, "#results figure")[2].click) == "done"
    assert results(driver)[0][0] == third


def test_wrong_token_is_a_message(grpc_server, checkpoint):  # noqa: F811
    import io

    from sanny.engine.cli import parser
    from sanny.engine.web.cli import build

    addr, tmp, keys = grpc_server
    (tmp / "wrong").write_text("not-the-token")
    app, close = build(parser().parse_args(web_args(addr, tmp, checkpoint, tmp / "wrong")))
    try:
        c = app.test_client()
        assert c.get("/api/info").get_json()["ok"] is False
        r = c.post("/api/search", data={"image": (io.BytesIO((tmp / "pics" / keys[0]).read_bytes()), "q.png")},
                   content_type="multipart/form-data")
        assert r.status_code == 502 and "wrong bearer token" in r.get_json()["error"]
    finally:
        close()
