"""End to end in a browser: the client served at ``/`` (server/parley_server/static/), driven in
headless Chromium through WebDriver, against the real server with the real engine and voice "heart".

Set-up: Debian's ``chromium`` and ``chromium-driver`` packages. If ``/usr/bin/chromium`` or
``/usr/bin/chromedriver`` is missing, the set-up installs them with apt-get (as root, or through
``sudo -n``); the test is skipped only where apt-get itself does not exist. Selenium comes from
PyPI (the ``test`` extra) and is pointed at ``/usr/bin/chromedriver``: nothing is downloaded.

Chromium flags, and why:

* ``--headless=new --no-sandbox --disable-gpu``: no display, running as root, no GPU.
* ``--no-first-run --disable-background-networking --disable-component-update --disable-sync
  --disable-quic`` and a fresh ``--user-data-dir``: no traffic of its own, no state between runs.
* ``--autoplay-policy=no-user-gesture-required``: the page's AudioContext (created when the voices
  arrive) runs at once instead of waiting for a gesture. WebDriver clicks are trusted gestures, so
  the page resumes it on Speak anyway; the flag keeps the test independent of that.
* ``--disable-audio-output``: Chromium renders audio into a fake output stream, clocked in real
  time by a timer, instead of opening a sound device (CI machines have none; without the flag
  Chromium falls back to the same fake stream after failing to open ALSA/PulseAudio). The
  AudioContext runs, the AudioWorklet renders at real-time pace, getOutputTimestamp() works.

The page's numbers come from ``window.parleyStats`` (see app.js). A screenshot of the page after the
first utterance is written to SCREENSHOT.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]  # a first apt-get install is slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_PACKAGES = ("chromium", "chromium-driver", "fonts-liberation")
SCREENSHOT = Path(tempfile.gettempdir()) / "parley-browser-e2e.png"

SENTENCE = "Hello from the browser. This sentence travels as float samples to an audio worklet."
LONG_TEXT = " ".join(
    [
        "The quick brown fox jumps over the lazy dog while the band plays on.",
        "Streaming speech has to start quickly, keep going without gaps, and stop at once when asked.",
    ]
    * 10
)


# -- set-up: Chromium from Debian, the real server in a thread -----------------------------------


def ensure_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    apt = shutil.which("apt-get")
    if apt is None:
        pytest.skip(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing and apt-get is not available to install "
            f"Debian's {' and '.join(APT_PACKAGES[:2])}"
        )
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo", "-n"]
    else:
        pytest.fail(f"installing {' '.join(APT_PACKAGES)} needs root: run as root or install them first")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=600"]  # another apt-get may be running
    for cmd in (
        [*prefix, apt, *lock, "update", "-q"],
        [*prefix, apt, *lock, "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=840, check=False)
        if done.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "apt-get installed chromium but not where expected"


class ServerThread:
    """The real server (real engine, voice "heart", warmed up) in a thread with its own loop."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main()), name="browser-e2e", daemon=True
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.error: BaseException | None = None
        self.server: Any = None

    async def _main(self) -> None:
        from parley_server.app import ParleyServer, load_engine
        from parley_server.config import ServerConfig

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            config = ServerConfig(port=0, voices=("heart",))
            engine = await asyncio.to_thread(load_engine, config)
            self.server = ParleyServer(engine, config)
            await self.server.start()
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            raise
        self._ready.set()
        await self._stop.wait()
        await self.server.close()

    def __enter__(self) -> ServerThread:
        self._thread.start()
        assert self._ready.wait(240), "the server did not start in time"
        if self.error is not None:
            raise self.error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as st:
        yield st


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    ensure_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    with tempfile.TemporaryDirectory(prefix="parley-chromium-") as profile:
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--autoplay-policy=no-user-gesture-required",
            "--disable-audio-output",
            "--window-size=900,1000",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


# -- helpers --------------------------------------------------------------------------------------


def stats(driver: Any) -> dict[str, Any]:
    value = driver.execute_script("return Object.assign({}, window.parleyStats)")
    assert isinstance(value, dict)
    return value


def wait_until(what: str, check: Callable[[], bool], timeout_s: float, driver: Any) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting until {what}: {stats(driver)}")
        time.sleep(0.05)


def set_text(driver: Any, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(text)


# -- the test -------------------------------------------------------------------------------------


def test_browser_client_speaks_and_stops(server: ServerThread, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(server.base_url + "/")
    wait_until(
        "the page is connected and lists the voices",
        lambda: bool(stats(d)["connected"]) and d.find_element(By.ID, "speak").is_enabled(),
        20,
        d,
    )
    s0 = stats(d)
    assert s0["protocol"] == 2 and s0["jitterBufferMs"] == 60
    # accessible controls: every control has a label, the status is announced
    for control in ("voice", "text", "speed"):
        assert d.find_elements(By.CSS_SELECTOR, f'label[for="{control}"]'), control
    status = d.find_element(By.ID, "status")
    assert status.get_attribute("aria-live") == "polite" and status.get_attribute("role") == "status"
    speed = d.find_element(By.ID, "speed")
    assert (speed.get_attribute("min"), speed.get_attribute("max")) == ("0.5", "4")  # from hello
    groups = d.execute_script(
        "return [...document.querySelectorAll('#voice optgroup')]"
        ".map(g => [g.label, [...g.children].map(o => o.value)])"
    )
    assert groups == [["American English (en-US)", ["heart"]]]

    # -- one sentence, played to the end ----------------------------------------------------------
    Select(d.find_element(By.ID, "voice")).select_by_value("heart")
    set_text(d, SENTENCE)
    d.find_element(By.ID, "speak").click()
    wait_until("the sentence has played", lambda: stats(d)["state"] in ("ended", "error"), 30, d)
    s = stats(d)
    assert s["state"] == "ended" and s["error"] is None and s["voice"] == "heart"
    rate = s["contextSampleRateHz"]
    assert s["sampleRateHz"] == rate  # the server resampled to the AudioContext's rate
    # audio arrived: every sample the server says it sent
    assert s["serverDone"] and s["framesReceived"] > 10
    assert s["samplesReceived"] == s["serverSamples"] > 0
    # ... and played: every sample, at real-time pace, without a gap
    assert s["samplesPlayed"] == s["samplesReceived"]
    assert s["playedMs"] == pytest.approx(s["serverAudioMs"], abs=1.0)
    assert 2500 < s["playedMs"] < 12000  # a 14-word sentence
    assert s["underruns"] == 0 and s["underrunMs"] == 0
    assert s["playbackMs"] == pytest.approx(s["playedMs"], abs=1.0)  # AudioContext clock
    assert s["playbackWallMs"] == pytest.approx(s["playedMs"], rel=0.1)  # the page's clock
    # time to first audio recorded (click -> first sample out), after the first frame arrived
    assert s["ttfaSource"] == "output-timestamp"
    assert 0 < s["firstFrameMs"] <= s["ttfaMs"] < 5000
    assert "Done" in status.text and "0 underruns" in status.text
    assert d.find_element(By.ID, "stat-underruns").text == "0"
    d.save_screenshot(str(SCREENSHOT))

    # -- a long text, stopped after a second ------------------------------------------------------
    set_text(d, LONG_TEXT)
    d.find_element(By.ID, "speak").click()
    wait_until("a second of the long text has played", lambda: stats(d)["samplesPlayed"] >= rate, 30, d)
    stop = d.find_element(By.ID, "stop")
    assert stop.is_enabled()
    stop.click()
    at_stop = stats(d)
    time.sleep(0.3)  # grace: messages already in flight from the worklet
    after_grace = stats(d)
    time.sleep(0.7)
    later = stats(d)
    assert after_grace["state"] == later["state"] == "stopped"
    assert later["samplesPlayed"] == after_grace["samplesPlayed"], "audio kept playing after Stop"
    assert after_grace["samplesPlayed"] - at_stop["samplesPlayed"] <= 0.05 * rate  # flushed at once
    assert later["bufferedMs"] == 0  # (underruns are not asserted here: only the sentence's are)
    assert later["framesReceived"] == after_grace["framesReceived"]
    # cancelled server-side: confirmed, far short of the text, and no task left
    assert later["cancelled"] is True
    assert later["samplesSentBeforeCancel"] < 20 * rate  # the whole text is over a minute
    wait_until("the server has no context left", lambda: server.server.context_tasks == 0, 5, d)
    assert not stop.is_enabled() and "Stopped" in status.text

    severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
