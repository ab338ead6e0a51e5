"""A real headless Chromium for page tests, driven over the DevTools protocol through a pipe (no extra packages):
one process per test session, one fresh browser context (page, storage, downloads) per test.

``chromium`` is Debian's package: the session fixture installs it when it is missing and the tests run as root;
elsewhere the tests that need it are skipped with the reason printed. Chromium's ``--remote-debugging-pipe`` reads
NUL-terminated JSON commands on fd 3 and writes replies and events on fd 4, so no websocket client is needed.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         "--disable-default-apps", "--mute-audio", "--hide-scrollbars"]


def install_chromium() -> str | None:
    """Install Debian's chromium when missing; the reason it cannot be used, or None when it can."""
    if Path(CHROMIUM).exists():
        return None
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "--no-install-recommends", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0:  # stale package lists: refresh once and retry
        subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"], capture_output=True, env=env,
                       timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=1800)
    if result.returncode != 0 or not Path(CHROMIUM).exists():
        return f"apt-get install chromium failed: {(result.stderr or result.stdout)[-500:]}"
    return None


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session; each test's ``Browser`` is a page in a context of its own."""
    reason = install_chromium()
    if reason:
        print(f"SKIP browser tests: {reason}")
        pytest.skip(reason)
    process = Chromium(CHROMIUM)
    yield process
    process.close()


class Chromium:
    """A headless Chromium process and its DevTools pipe; every event it sends is kept, in order."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="mubench-chromium-")
        commands_r, self._commands = os.pipe()
        self._replies, replies_w = os.pipe()

        def wire_pipes():  # in the child: Chromium expects the command pipe on fd 3 and the reply pipe on fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_r, replies_w)]  # out of 3/4's way
            os.dup2(high[0], 3)  # dup2 makes them inheritable; every other pipe end is closed at exec
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=wire_pipes, close_fds=False)
        os.close(commands_r)
        os.close(replies_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command and wait for its reply, keeping the events that arrive meanwhile."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self) -> None:
        self.events.append(self._read())

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._replies, 1 << 20)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe: {self.process.stderr.read().decode()[-2000:]}")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except RuntimeError:
            pass  # already gone
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._commands)
        os.close(self._replies)
        self.process.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Browser:
    """One page in a browser context of its own (as a fresh incognito window: no storage, cache or download
    settings shared with another test); every network request the page makes is recorded."""

    def __init__(self, chromium: Chromium, width: int = 1280, height: int = 900):
        self.chromium = chromium
        self._first_event = len(chromium.events)
        self.context = chromium.call("Target.createBrowserContext")["browserContextId"]
        target = chromium.call("Target.createTarget", url="about:blank", browserContextId=self.context,
                               width=width, height=height)["targetId"]
        self.session = chromium.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.page(f"{domain}.enable")

    @property
    def events(self) -> list[dict]:
        """This page's events and the browser's own (downloads), since the page was opened."""
        return [e for e in self.chromium.events[self._first_event:] if e.get("sessionId") in (None, self.session)]

    def call(self, method: str, **params) -> dict:
        """A browser-level command."""
        return self.chromium.call(method, **params)

    def page(self, method: str, **params) -> dict:
        return self.chromium.call(method, session=self.session, **params)

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.page("Page.navigate", url=url)
        while not any(e.get("method") == "Page.loadEventFired" for e in self.events):
            self.chromium.wait_for_event()

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (promises awaited); page errors raise."""
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked the network stack for (documents, images, scripts, fetches…)."""
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def console_errors(self) -> list[str]:
        """Messages the page logged as errors, CSP violations included."""
        errors = [" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"]["args"])
                  for e in self.events if e.get("method") == "Runtime.consoleAPICalled"
                  and e["params"]["type"] == "error"]
        errors += [e["params"]["exceptionDetails"].get("text", "") for e in self.events
                   if e.get("method") == "Runtime.exceptionThrown"]
        errors += [e["params"]["entry"]["text"] for e in self.events
                   if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"]
        return errors

    def set_viewport(self, width: int, height: int = 900) -> None:
        """Lay the page out for a window of ``width`` × ``height`` CSS pixels (a phone, a laptop, an iframe)."""
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def download(self, click_expression: str, folder: Path, timeout: float = 20.0) -> Path:
        """Run ``click_expression`` (which starts a download) and return the file the browser saved in ``folder``."""
        import time

        folder.mkdir(parents=True, exist_ok=True)
        self.call("Browser.setDownloadBehavior", behavior="allowAndName", downloadPath=str(folder),
                  browserContextId=self.context, eventsEnabled=True)
        seen = len(self.events)  # an earlier download's events are not this one's
        self.evaluate(click_expression)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = [e["params"] for e in self.events[seen:] if e.get("method") == "Browser.downloadProgress"
                    and e["params"]["state"] in ("completed", "canceled")]
            if done:
                assert done[0]["state"] == "completed", done[0]
                return folder / done[0]["guid"]
            self.evaluate("new Promise((resolve) => setTimeout(resolve, 50))")  # lets pending events arrive
        raise TimeoutError(f"no download finished within {timeout} s")

    def download_name(self) -> str | None:
        """The file name the page suggested for its last download."""
        begun = [e["params"] for e in self.events if e.get("method") == "Browser.downloadWillBegin"]
        return begun[-1]["suggestedFilename"] if begun else None

    def screenshot(self, path: Path) -> Path:
        data = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the page and its context (Chromium stays for the next test)."""
        self.call("Target.disposeBrowserContext", browserContextId=self.context)
