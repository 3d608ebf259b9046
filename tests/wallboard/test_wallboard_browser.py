"""mtcti3-wallboard in a real browser: Debian's chromium, headless, driven by
Selenium through chromedriver, against the real broker, bridge and ipo-sim.

  live        a call queued in the simulator shows as waiting on its queue's
              tile within 2 s; its answer moves it to answered and the agent
              to busy (screenshots kept under tests/.work/wallboard/)
  stale       a wallboard service that stops answering (SIGSTOP) gets its page
              marked STALE within stale_seconds, and live again after
  restart     a second wallboard started later rebuilds the same tile from
              the compacted topic alone
  two PBXs    one wallboard subscribed by a pattern shows two bridges' queues
  self-contained  the page and its assets name no external address
  bad config  one line, exit status 2
"""
import pathlib
import re
import subprocess
import time
import urllib.request

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bridgelib import find_binary
from wblib import queue_setup
from services import wait_for
from testenv import WORK

SHOTS = WORK / "wallboard"


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path="/usr/bin/chromedriver"), options=opts)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


def shot(driver, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    assert path.stat().st_size > 10000
    return path


def tile_field(driver, guid, name):
    """The text of one figure of the queue's tile, "" while there is no such tile."""
    found = driver.find_elements(By.CSS_SELECTOR, f'.tile[data-queue-guid="{guid}"] [data-field="{name}"]')
    return found[0].text if found else ""


def agent_state(driver, guid, extn):
    found = driver.find_elements(By.CSS_SELECTOR, f'.tile[data-queue-guid="{guid}"] .agent[data-agent-extn="{extn}"]')
    return found[0].get_attribute("data-state") if found else ""


def wait_until(driver, cond, timeout, what):
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: cond())
    except Exception:
        shot(driver, "failed-" + re.sub(r"\W+", "-", what))
        raise AssertionError(f"page: {what} not within {timeout} s")


def test_queued_call_then_answer_in_the_browser(sim, make_bridge, make_wallboard, browser):
    guid, members, agent = queue_setup(sim)
    bridge = make_bridge(sim).start()
    wallboard = make_wallboard(bridge.prefix + "queue-stats", extra=["--stale_seconds=3", "--title=Test floor"])
    browser.get(wallboard.url)
    wait_until(browser, lambda: agent_state(browser, guid, agent) == "available", 20, "the agent available")
    assert browser.find_element(By.ID, "title").text == "Test floor"
    assert tile_field(browser, guid, "waiting") == "0"
    wait_until(browser, lambda: browser.find_element(By.ID, "status").text == "live", 3, "live")

    # a call into the queue: it rings the agent, so it waits
    t0 = time.monotonic()
    sim.ctl("POST", "/trunk/call", {"from": "01707123456", "to": "5001"})
    wait_until(browser, lambda: tile_field(browser, guid, "waiting") == "1", 2, "the call waiting")
    took = time.monotonic() - t0
    assert took < 2.0
    assert tile_field(browser, guid, "window-offered") == "1"
    wait_until(browser, lambda: agent_state(browser, guid, agent) == "ringing", 5, "the agent ringing")
    shot(browser, "wallboard-call-waiting")

    # the agent answers
    sim.ctl("POST", f"/phone/{agent}/answer", {})
    wait_until(browser, lambda: tile_field(browser, guid, "window-answered") == "1", 5, "the call answered")
    assert tile_field(browser, guid, "waiting") == "0"
    assert tile_field(browser, guid, "longest-wait") == "0:00"
    wait_until(browser, lambda: agent_state(browser, guid, agent) == "busy", 5, "the agent busy")
    assert tile_field(browser, guid, "agents-busy") == "1"
    assert tile_field(browser, guid, "window-service-level") == "100%"
    path = shot(browser, "wallboard-call-answered")
    print(f"screenshot: {path} (call waiting on the tile {took:.2f} s after it was placed)")

    # a second wallboard, started now, rebuilds the same tile from the compacted topic
    late = make_wallboard(bridge.prefix + "queue-stats")
    browser.get(late.url)
    wait_until(browser, lambda: agent_state(browser, guid, agent) == "busy", 10, "the rebuilt tile")
    assert tile_field(browser, guid, "window-answered") == "1"
    assert tile_field(browser, guid, "window-offered") == "1"


def test_stale_mark_when_the_service_stops_answering(sim, make_bridge, make_wallboard, browser):
    guid, members, agent = queue_setup(sim)
    bridge = make_bridge(sim).start()
    wallboard = make_wallboard(bridge.prefix + "queue-stats", extra=["--stale_seconds=3"])
    browser.get(wallboard.url)
    wait_until(browser, lambda: agent_state(browser, guid, agent) == "available", 20, "the tile")
    status = browser.find_element(By.ID, "status")
    wait_until(browser, lambda: status.text == "live", 3, "live")
    assert "stale" not in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
    wallboard.pause()
    try:
        wait_until(browser, lambda: status.text.startswith("STALE: no data for"), 8, "the stale mark")
        assert "stale" in browser.find_element(By.TAG_NAME, "body").get_attribute("class")
        shot(browser, "wallboard-stale")
    finally:
        wallboard.resume()
    wait_until(browser, lambda: status.text == "live", 8, "live again")


def test_page_is_self_contained(kafka, make_wallboard):
    wallboard = make_wallboard("mtcti3.none.queue-stats")
    for path in ("/", "/app.js", "/style.css"):
        with urllib.request.urlopen(wallboard.url.rstrip("/") + path, timeout=5) as r:
            assert r.status == 200
            text = r.read().decode()
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", text, re.I), path
    try:
        urllib.request.urlopen(wallboard.url + "nothing", timeout=5)
        raise AssertionError("404 expected")
    except urllib.error.HTTPError as e:
        assert e.code == 404


@pytest.mark.parametrize("args,line", [
    ([], "mtcti3-wallboard: kafka_bootstrap: missing (set MTCTI3_WALLBOARD_KAFKA_BOOTSTRAP, --kafka_bootstrap "
         "or kafka_bootstrap in the config file)"),
    (["--kafka_bootstrap=k", "--listen=127.0.0.1"], 'mtcti3-wallboard: listen: "127.0.0.1" is not host:port'),
    (["--kafka_bootstrap=k", "--warn_waiting=x"], 'mtcti3-wallboard: warn_waiting: "x" is not an integer'),
    (["--kafka_bootstrap=k", "--kafka.no.such=1"],
     'mtcti3-wallboard: kafka.no.such: No such configuration property: "no.such"'),
])
def test_bad_config_one_line_exit_2(args, line):
    out = subprocess.run([find_binary("mtcti3-wallboard", "MTCTI3_WALLBOARD"), *args], capture_output=True,
                         text=True, timeout=20, env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [line]
    assert out.stdout == ""


def test_help_lists_every_setting():
    out = subprocess.run([find_binary("mtcti3-wallboard", "MTCTI3_WALLBOARD"), "--help-markdown"],
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0
    docs = (pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "wallboard.md").read_text()
    for row in out.stdout.strip().splitlines()[2:]:
        assert row in docs, row


def test_two_pbxs_by_topic_pattern(tmp_path, kafka, make_bridge, make_wallboard):
    """Two PBXs, two bridges with prefixes under one tag: one wallboard subscribed
    by a regular expression shows both PBXs' queues, each under its own id."""
    import asyncio
    import json
    import uuid

    import websockets

    from bridgelib import Sim
    tag = "wb" + uuid.uuid4().hex[:8]
    sims = [Sim(tmp_path / f"sim{i}", users=3, queues=1, seed=i + 1).start() for i in range(2)]
    try:
        bridges = [make_bridge(s, prefix=f"{tag}.pbx{i}.", pbx_id=f"pbx{i}").start() for i, s in enumerate(sims)]
        wallboard = make_wallboard(f"^{tag}\\..*queue-stats$")

        async def snapshot():
            uri = wallboard.url.replace("http://", "ws://") + "stream"
            async with websockets.connect(uri, subprotocols=["wallboard"]) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), 5))

        def both():
            snap = asyncio.run(snapshot())
            return snap if {q["record"]["pbx"] for q in snap["queues"]} == {"pbx0", "pbx1"} else None
        snap = wait_for(both, 30, 0.5, "both PBXs on the wallboard")
        assert snap["type"] == "snapshot"
        guids = [s.model()["queues"][0]["guid"] for s in sims]
        assert sorted(q["id"] for q in snap["queues"]) == [f"{tag}.pbx0.queue-stats/{guids[0]}",
                                                           f"{tag}.pbx1.queue-stats/{guids[1]}"]
        assert snap["config"]["waiting"] == {"warn": 1, "alert": 3}
        assert bridges[0].prefix != bridges[1].prefix
    finally:
        for s in sims:
            s.stop()
