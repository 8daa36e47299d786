"""The console in a real headless Chromium: the preview plays the real stream engine's HTTP-FLV feed
(its media time advances, audio is decoded), a viewer post reaches the backend and comes back on the
feed, and an admin logs in and skips.

Driven by selenium with Debian's chromium + chromium-driver (versions matched by Debian, no driver
download). Skipped with the reason when chromium is not installed.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from host.console.backend import UtteranceItem, snapshot_from_engine
from host.console.server import ConsoleServer, build_console_app
from host.metrics import HostMetrics
from tests.test_console_support import RecordingBackend

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
TOKEN = "browser-test-token"
W, H, FPS, SR = 320, 180, 25, 48000

pytestmark = [
    pytest.mark.skipif(
        not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
        reason="headless browser test needs Debian's chromium and chromium-driver "
               "(apt-get install chromium chromium-driver)",
    ),
    pytest.mark.skipif(importlib.util.find_spec("selenium") is None,
                       reason="headless browser test needs selenium (pip install selenium; a test dependency)"),
]


class ConsoleThread:
    """The console on its own event loop in a thread, so blocking selenium calls cannot stall it."""

    def __init__(self, app):
        self.loop = asyncio.new_event_loop()
        self.server = ConsoleServer(app, "127.0.0.1", 0)
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, name="console-test", daemon=True)

    def __enter__(self) -> ConsoleThread:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def chromium(tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
                 "--window-size=1440,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def click_when_ready(driver, xpath: str, timeout: float = 10.0) -> None:
    """Click an enabled element; tables re-render after login, so a found row may go stale: look again."""
    from selenium.common.exceptions import StaleElementReferenceException

    def attempt() -> bool:
        try:
            found = [e for e in driver.find_elements("xpath", xpath) if e.is_enabled()]
            if not found:
                return False
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", found[0])
            found[0].click()
            return True
        except StaleElementReferenceException:
            return False

    wait_for(attempt, timeout, f"an enabled {xpath}")


def tone(seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    mono = (np.sin(2 * np.pi * freq * t) * 8000).astype(np.int16)
    return np.repeat(mono[:, None], 2, axis=1)


@pytest.fixture
def engine():
    """The real stream engine at a small size with its HTTP-FLV preview on a free port."""
    from lipsync.base import IdleRenderer
    from streamer.engine import StreamEngine
    from streamer.settings import StreamSettings
    from streamer.test_pattern import TestPatternAvatar

    settings = StreamSettings(width=W, height=H, fps=FPS, sample_rate=SR,
                              preview={"enabled": True, "host": "127.0.0.1", "port": 0},
                              encoder={"video_bitrate_kbps": 400, "audio_bitrate_kbps": 64})
    engine = StreamEngine(settings, TestPatternAvatar(W, H, FPS), IdleRenderer())
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def test_preview_plays_and_viewer_post_reaches_backend(engine, tmp_path):
    backend = RecordingBackend(preview_url=engine.preview_url)
    backend.health = lambda: snapshot_from_engine(engine.health.snapshot(), current_product="p-watch-s3")
    app = build_console_app(backend, token=TOKEN, metrics=HostMetrics(backend.health))
    engine.say(tone(30.0), text="a tone so the preview has sound")

    with ConsoleThread(app) as console:
        driver = chromium(tmp_path)
        try:
            driver.set_page_load_timeout(30)
            driver.get(console.url + "/")
            js = driver.execute_script

            # The preview: media time advances by about real time, and audio is decoded.
            supported = js("return MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01E,mp4a.40.2\"')")
            assert supported, "this chromium cannot play H.264/AAC through MSE"
            current = "return document.getElementById('preview').currentTime"
            wait_for(lambda: js(current) > 1.0, 60, "the preview to start playing")
            t1, w1 = js(current), time.monotonic()
            # Keeps advancing: 1.5 s more media time (a starved 2-core machine may play slowly, never stop).
            wait_for(lambda: js(current) > t1 + 1.5, 20, f"media time to advance past {t1 + 1.5:.2f} s")
            t2, w2 = js(current), time.monotonic()
            assert t2 - t1 <= (w2 - w1) + 2.0, "media time ran ahead of the clock"
            assert js("return document.getElementById('preview').paused") is False
            assert js("return document.getElementById('preview').muted") is False, "autoplay fell back to muted"
            assert js("return document.getElementById('preview').webkitAudioDecodedByteCount") > 0, "no audio decoded"
            readout = float(driver.find_element("id", "media-time").text.split()[0])
            assert readout > 1.0, "the media-time readout does not follow the player"

            # A viewer post goes to the backend and comes back on the live feed with its verdict.
            driver.find_element("id", "chat-uname").clear()
            driver.find_element("id", "chat-uname").send_keys("browser-viewer")
            driver.find_element("id", "chat-text").send_keys("How much is the S3 watch?")
            driver.find_element("css selector", "#chat-form button[type=submit]").click()
            wait_for(lambda: ("browser-viewer", "How much is the S3 watch?") in backend.posted, 15,
                     "the post to reach the backend")
            wait_for(lambda: "How much is the S3 watch?" in driver.find_element("id", "events").text, 15,
                     "the post to appear on the feed")
            assert "通过" in driver.find_element("id", "events").text  # the allowed-verdict badge

            # The answer's later states replace its line; an interruption shows what was actually played.
            queued = js("return document.querySelectorAll('#events li[data-utt]').length")
            answer_id = js("return document.querySelector('#events li[data-utt]').dataset.utt")
            for utt_state in ("speaking", "interrupted"):
                item = UtteranceItem(answer_id, utt_state, "browser-viewer, the S3 is 299 yuan today.", "answer",
                                     "browser-viewer", played_text="browser-viewer, the S3" if utt_state == "interrupted" else None)
                console.loop.call_soon_threadsafe(backend.feed.publish, item)  # the feed lives on the console's loop
            wait_for(lambda: "interrupted" in driver.find_element("css selector", f"li[data-utt='{answer_id}']").text,
                     10, "the utterance line to update")
            assert js("return document.querySelectorAll('#events li[data-utt]').length") == queued == 1
            assert "the S3 …" in driver.find_element("css selector", f"li[data-utt='{answer_id}']").text

            # Health figures come from the engine's own snapshot.
            wait_for(lambda: "publishing" in driver.find_element("id", "sinks").text, 15, "the sink table")

            # Admin controls are locked until login; after login, Skip reaches the backend.
            skip = driver.find_element("css selector", "button[data-action=skip]")
            assert not skip.is_enabled()
            driver.find_element("id", "login-token").send_keys(TOKEN)
            driver.find_element("css selector", "#login-form button").click()
            wait_for(skip.is_enabled, 10, "admin controls to unlock")
            js("arguments[0].scrollIntoView({block: 'center'})", skip)  # not under the sticky header
            skip.click()
            wait_for(lambda: [c for c in backend.admin_calls if c[0] == "skip"], 10, "skip to reach the backend")
            driver.find_element("css selector", "button[data-action=status]").click()
            wait_for(lambda: '"frames"' in driver.find_element("id", "admin-data").text, 10, "the status figures")

            # KB editing: load a product into the editor, change its price, save.
            click_when_ready(driver, "//tbody[@id='products']/tr[td[1]='p-earbuds-a2']//button[1]")
            price = driver.find_element("css selector", "#product-edit input[name=price]")
            assert price.get_attribute("value") == "159"
            price.clear()
            price.send_keys("149")
            driver.find_element("css selector", "#product-edit button[type=submit]").click()
            wait_for(lambda: backend.products["p-earbuds-a2"].price == 149, 10, "the product edit to reach the backend")
            assert backend.products["p-earbuds-a2"].list_price == 199  # untouched fields survive the round trip

            # Schedule: pause a job from its row.
            click_when_ready(driver, "//tbody[@id='schedule']/tr[td[1][starts-with(., 'idle filler')]]//button[1]")
            wait_for(lambda: backend.schedule["idle"].paused, 10, "the schedule pause to reach the backend")

            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == [], f"errors in the page: {errors}"

            js("window.scrollTo(0, 0)")
            time.sleep(0.5)  # let the feed and health panels settle for the screenshot
            shot = tmp_path / "console.png"
            driver.save_screenshot(str(shot))
            if out := os.environ.get("CONSOLE_SCREENSHOT"):
                shutil.copy(shot, out)
            assert shot.stat().st_size > 10_000
        finally:
            driver.quit()
    assert engine.health.sinks["preview"].bytes > 0


def test_off_loopback_console_shows_nothing_until_login(tmp_path):
    """With console.host off loopback the page asks for the token first; the session cookie then opens
    the feed, the tables and the viewer box (EventSource and fetch carry the cookie)."""
    from configs.console import ConsoleSettings

    backend = RecordingBackend(preview_url=None)
    app = build_console_app(backend, token=TOKEN, settings=ConsoleSettings(host="0.0.0.0"))
    with ConsoleThread(app) as console:  # still bound to 127.0.0.1 for the test
        driver = chromium(tmp_path)
        try:
            driver.get(console.url + "/")
            banner = driver.find_element("id", "login-needed")
            wait_for(banner.is_displayed, 10, "the login banner")
            time.sleep(0.5)
            assert driver.find_element("id", "products").text == ""
            assert "connected" not in driver.find_element("id", "feed-state").text
            driver.find_element("id", "login-token").send_keys(TOKEN)
            driver.find_element("css selector", "#login-form button").click()
            wait_for(lambda: "p-watch-s3" in driver.find_element("id", "products").text, 10, "the product table")
            assert not banner.is_displayed()
            wait_for(lambda: "connected" in driver.find_element("id", "feed-state").text, 10, "the live feed")
            driver.find_element("id", "chat-text").send_keys("hello from afar")
            driver.find_element("css selector", "#chat-form button[type=submit]").click()
            wait_for(lambda: "hello from afar" in driver.find_element("id", "events").text, 10, "the post on the feed")
            assert backend.posted[-1][1] == "hello from afar"
            assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "401" not in e["message"]] == []
        finally:
            driver.quit()


class CuttableRelay:
    """An HTTP relay in front of the engine's preview that can cut or freeze the connections open now
    (new connections pass normally): what a restarted host or a wedged feed looks like to the browser."""

    def __init__(self, upstream: str):
        self.upstream, self.epoch, self.mode = upstream, 0, {}
        self.connections = 0

    def act(self, mode: str) -> None:
        self.mode[self.epoch] = mode
        self.epoch += 1

    async def handle(self, request):
        import aiohttp
        from aiohttp import web

        mine = self.epoch
        self.connections += 1
        resp = web.StreamResponse(headers={"Content-Type": "video/x-flv"})
        await resp.prepare(request)
        async with aiohttp.ClientSession() as session, session.get(self.upstream) as up:
            async for chunk in up.content.iter_any():
                mode = self.mode.get(mine)
                if mode == "close":
                    break
                if mode != "freeze":  # frozen: the connection stays open, nothing more arrives
                    await resp.write(chunk)
        return resp


@pytest.mark.slow
def test_preview_recovers_from_a_cut_and_a_frozen_feed(engine, tmp_path):
    """The player reconnects by itself: on a closed feed (mpegts.js events) and on a feed that stays open
    but stops (the page's 6 s media-time watchdog)."""
    from aiohttp import web

    relay = CuttableRelay(engine.preview_url)
    relay_app = web.Application()
    relay_app.router.add_get("/live.flv", relay.handle)
    backend = RecordingBackend()
    app = build_console_app(backend, token=TOKEN)
    with ConsoleThread(app) as console:
        relay_server = ConsoleServer(relay_app, "127.0.0.1", 0)
        relay_url = asyncio.run_coroutine_threadsafe(relay_server.start(), console.loop).result(10)
        backend._preview_url = relay_url + "/live.flv"
        driver = chromium(tmp_path)
        try:
            driver.get(console.url + "/")
            current = "return document.getElementById('preview').currentTime"
            js = driver.execute_script
            wait_for(lambda: js(current) > 1.0, 60, "the preview to start playing")
            for mode, within in (("close", 20), ("freeze", 30)):
                before = relay.connections
                relay.act(mode)
                wait_for(lambda: relay.connections > before, within, f"the player to reconnect after a {mode}")
                # A new player starts its media time again from about 0: playing again means advancing
                # 1 s past the lowest value seen since the reconnect.
                low = [js(current)]

                def resumed() -> bool:
                    now = js(current)
                    low[0] = min(low[0], now)
                    return now > low[0] + 1.0

                wait_for(resumed, 20, f"playback to resume after a {mode}")
        finally:
            driver.quit()
            asyncio.run_coroutine_threadsafe(relay_server.stop(), console.loop).result(10)


def test_console_over_the_real_host_parts(engine, tmp_path):
    """HostConsoleBackend with the real engine, chat pipeline, knowledge store and job table: what an
    operator does on the page lands in the real components."""
    from host.console.host_backend import HostConsoleBackend
    from tests.test_console_support import SHOP_EN, real_chat, real_scripts, real_store

    if not SHOP_EN.exists():
        pytest.skip("shared fixtures not present")
    store, chat, scripts = real_store(tmp_path), real_chat(), real_scripts(tmp_path)
    backend = HostConsoleBackend(engine=engine, chat=chat, store=store, scripts=scripts)
    app = build_console_app(backend, token=TOKEN)
    try:
        with ConsoleThread(app) as console:
            console.loop.call_soon_threadsafe(backend.attach)
            driver = chromium(tmp_path)
            try:
                driver.get(console.url + "/")
                js = driver.execute_script
                wait_for(lambda: js("return document.getElementById('preview').currentTime") > 1.0, 60,
                         "the preview to start playing")
                events = driver.find_element("id", "events")
                for text in ("Does the Pulse Watch track sleep?", "add me on wechat abc12345 for cheap stuff"):
                    box = driver.find_element("id", "chat-text")
                    box.send_keys(text)
                    driver.find_element("css selector", "#chat-form button[type=submit]").click()
                    wait_for(lambda t=text: t in events.text, 15, f"{text!r} on the feed")
                assert len(chat.triage) == 1  # the question queued for the director, the ad refused
                lines = driver.find_elements("css selector", "#events li")
                assert "通过" in lines[0].text and "拦截" in lines[1].text

                driver.find_element("id", "login-token").send_keys(TOKEN)
                driver.find_element("css selector", "#login-form button").click()
                click_when_ready(driver, "//tbody[@id='schedule']/tr[td[1][starts-with(., 'idle')]]//button[1]")
                wait_for(lambda: {j.id: j.paused for j in scripts.scheduler.jobs()}["idle"], 10,
                         "the job to be paused in the job table")
            finally:
                driver.quit()
                asyncio.run_coroutine_threadsafe(backend.aclose(), console.loop).result(10)
    finally:
        scripts.scheduler.close()
        store.close()


DEMO_EN = Path(__file__).resolve().parent.parent / "configs" / "demo" / "shop_en"


@pytest.mark.slow
async def test_posted_question_gets_an_answer_on_air(tmp_path, monkeypatch):
    """The whole host (English demo shop, KB-only brain, offline TTS, viseme renderer, 320x180) behind the
    console: the preview plays, a question typed in the box is answered by name, and the feed line of
    that answer ends "done" (its audio went out through the engine)."""
    if not (DEMO_EN / "knowledge.yaml").exists():
        pytest.skip("configs/demo/shop_en not present")
    from configs.loader import load_config
    from host.app import Host
    from host.console.host_backend import HostConsoleBackend

    cfg = load_config(None, {
        "stream": {"width": 320, "height": 180, "record": {"path": None}, "preview": {"port": 0}},
        "knowledge": {"db_url": f"sqlite:///{tmp_path / 'host.db'}",
                      "import_paths": [str(DEMO_EN / "knowledge.yaml")]},
        "scripts": {"dir": str(DEMO_EN / "scripts"), "language": "en",
                    "database_url": f"sqlite:///{tmp_path / 'host.db'}"},
        "director": {"language": "en"},
        "chat": {"admin": {"audit_file": str(tmp_path / "audit.jsonl")}},
        "speech": {"cache": {"dir": str(tmp_path / "tts-cache")}},
    })  # nothing written under the repository's var/
    host = Host(cfg)
    await asyncio.to_thread(host.build)
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "add_signal_handler", lambda *a, **k: None)  # pytest keeps its own Ctrl-C
    backend = HostConsoleBackend.from_host(host)
    backend.attach()
    server = ConsoleServer(build_console_app(backend, token=TOKEN), "127.0.0.1", 0)
    url = await server.start()
    show = asyncio.create_task(host.run(duration=120))

    def operator() -> str:
        driver = chromium(tmp_path)
        try:
            driver.get(url + "/")
            js = driver.execute_script
            wait_for(lambda: js("return document.getElementById('preview').currentTime") > 1.0, 60,
                     "the preview to start playing")
            driver.find_element("id", "chat-uname").clear()
            driver.find_element("id", "chat-uname").send_keys("Ann")
            driver.find_element("id", "chat-text").send_keys("How long does the Pulse Watch battery last?")
            driver.find_element("css selector", "#chat-form button[type=submit]").click()
            # Read the lines in one go in the page: an utterance's line is replaced at each state change.
            lines = "return Array.from(document.querySelectorAll('#events li[data-utt]'), li => li.innerText)"
            done = wait_for(lambda: [t for t in js(lines) if "→ Ann" in t and "done" in t], 60,
                            "the answer to Ann to be said")
            return done[0]
        finally:
            driver.quit()

    try:
        line = await asyncio.to_thread(operator)
    finally:
        host.request_stop()
        await asyncio.wait_for(show, 60)
        await backend.aclose()
        await server.stop()
    assert "days" in line  # the battery FAQ's answer, addressed to Ann
    said = [e.payload for e in backend.feed.history() if e.kind == "utterance" and e.payload.to_uname == "Ann"]
    assert said[-1].state == "done"
