"""The web app in a real browser: Debian's headless Chromium (/usr/bin/chromium, never a downloaded one) driven by
Playwright against `python -m benchmarks serve` started as a user would. Opens a run, sorts and filters the video
table, opens a video and sees its crops, uploads a video and sees a verdict; screenshots go to pytest's tmp path."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing (Debian's chromium package; .ci/run installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (dev extra) is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(serve_run, serve_cache, tmp_path_factory):
    """`python -m benchmarks serve RUN --demo-weights --frames 4` on a free port: its URL and log file."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve-log") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DFBENCH_CACHE_DIR": str(serve_cache)}
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-m", "benchmarks", "serve", str(serve_run), "--port", str(port),
                                    "--demo-weights", "--frames", "4"], stdout=out, stderr=subprocess.STDOUT,
                                   env=env, cwd=tmp_path_factory.mktemp("serve-cwd"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/", timeout=2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start: {log.read_text()}")
                time.sleep(0.2)
        yield types.SimpleNamespace(url=url, log=log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_server_binds_127_0_0_1_by_default_without_a_warning(server):
    port = server.url.rsplit(":", 1)[1]
    log = server.log.read_text()
    assert f"serving 1 run(s) on http://127.0.0.1:{port}/" in log and "warning" not in log
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # the outgoing address: no packet is sent
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1
            other = probe.getsockname()[0]
        except OSError:
            other = "127.0.0.1"
    if other.startswith("127."):
        pytest.skip("this machine has no address besides loopback to check")
    with socket.socket() as sock:  # nothing listens on the machine's other addresses
        assert sock.connect_ex((other, int(port))) != 0


def test_browse_a_run_sort_filter_open_a_video_and_check_an_upload(browser, server, serve_run, serve_demo, tmp_path):
    server = server.url
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed = []
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server + "/")
    page.click(f"text={serve_run.name}")
    page.wait_for_selector("#video-table")
    assert page.locator(".report img").count() > 0  # the report's figures
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)

    page.click("#sort-score")  # ascending P(fake)
    page.wait_for_selector("#sort-score.active")
    scores = [float(t) for t in page.locator("#video-table td.score").all_inner_texts()]
    assert len(scores) == 16 and scores == sorted(scores)
    page.click("#sort-score")  # and descending
    page.wait_for_selector("text=P(fake) ▼")
    down = [float(t) for t in page.locator("#video-table td.score").all_inner_texts()]
    assert down == sorted(scores, reverse=True)

    page.select_option("select[name=level]", "GB:3")  # filters apply on change (app.js)
    page.wait_for_url("**level=GB%3A3**")
    levels = page.locator("#video-table tbody tr td:nth-child(4)").all_inner_texts()
    assert levels and set(levels) == {"GB:3"} and len(levels) == 8
    page.select_option("select[name=label]", "fake")
    page.wait_for_url("**label=fake**")
    assert set(page.locator("#video-table tbody tr td:nth-child(2)").all_inner_texts()) == {"fake"}
    page.screenshot(path=str(tmp_path / "run-filtered.png"), full_page=True)

    page.locator("#video-table tbody tr td a").first.click()
    page.wait_for_selector("svg.chart")
    crops = page.locator(".crop img")
    assert crops.count() == 2
    for i in range(2):
        crops.nth(i).scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=crops.nth(i).element_handle(),
                               timeout=60_000)
        assert crops.nth(i).evaluate("img => img.naturalWidth") == 4 * 256
    page.screenshot(path=str(tmp_path / "video.png"), full_page=True)

    page.goto(server + "/check")
    page.set_input_files("input[type=file]", str(sorted((serve_demo / "fake").glob("test_*.mp4"))[0]))
    page.fill("input[name=levels]", "none,GB:3")
    page.click("#check-submit")
    page.wait_for_selector("#verdict", timeout=240_000)
    assert "Verdict:" in page.inner_text("#verdict") and "P(fake)" in page.inner_text("#verdict")
    page.screenshot(path=str(tmp_path / "check.png"), full_page=True)
    assert not [u for u in failed if not u.startswith(server)]  # nothing fetched from elsewhere (offline)
    assert all((tmp_path / f"{name}.png").stat().st_size > 10_000 for name in ("run", "video", "check"))
    page.close()


@pytest.mark.parametrize("path", ["/../../../../etc/passwd", "/run/{run}/file/../../../../etc/passwd",
                                  "/run/{run}/file/..%2f..%2f..%2f..%2fetc%2fpasswd",
                                  "/run/{run}/file/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
                                  "/run/{run}/file//etc/passwd", "/run/{run}/file/%2Fetc%2Fpasswd",
                                  "/static/../app.py", "/static/..%2fapp.py", "/run/{run}?page_no=x"])
def test_the_real_server_refuses_paths_out_of_its_folders(server, serve_run, path):
    """Raw request paths, not normalised by a client, against uvicorn itself."""
    connection = http.client.HTTPConnection(server.url.removeprefix("http://"), timeout=30)
    connection.request("GET", path.format(run=serve_run.name))
    response = connection.getresponse()
    body = response.read().decode(errors="replace")
    assert response.status in (400, 404) and "root:" not in body and "create_app" not in body
    assert "Traceback" not in body
