"""Headless Chromium driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages
ended by NUL on file descriptors 3 and 4, as Puppeteer's ``pipe: true``): no WebDriver, no websocket
library, no browser download. Debian's ``chromium`` package is the browser.

``open_page`` loads a URL at a fixed viewport and returns what a person would see and what went wrong:
a screenshot (PNG bytes), the console errors, uncaught exceptions, failed loads and every request that
left the page's own file.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = (
    "headless Chromium is required for the HTML report test: on Debian/Ubuntu `apt-get install -y "
    "chromium` (or set CHROMIUM=/path/to/chrome)"
)


def find_chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    screenshot: bytes
    console_errors: list[str] = field(default_factory=list)  # console.error/assert, Log errors (CSP, loads)
    exceptions: list[str] = field(default_factory=list)  # uncaught JavaScript exceptions
    failed_loads: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page requested
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt opened
    evaluated: object = None  # the value of the expression given to open_page

    def problems(self) -> list[str]:
        return (
            [f"console: {m}" for m in self.console_errors]
            + [f"exception: {m}" for m in self.exceptions]
            + [f"failed load: {m}" for m in self.failed_loads]
            + [f"dialog: {m}" for m in self.dialogs]
        )


class _Pipe:
    def __init__(self, read_fd: int, write_fd: int):
        self._read, self._write = read_fd, write_fd
        self._messages: queue.Queue = queue.Queue()
        self._next_id = 0
        self.events: list[dict] = []
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._read, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._messages.put(None)
                return
            buffer += chunk
            while b"\0" in buffer:
                message, buffer = buffer.split(b"\0", 1)
                self._messages.put(json.loads(message))

    def call(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30.0):
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._get(deadline, method)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str, timeout: float = 30.0) -> dict:
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            reply = self._get(deadline, method)
            if "method" in reply:
                self.events.append(reply)
                if reply["method"] == method:
                    return reply

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = self._messages.get(timeout=left)
            except queue.Empty:
                return
            if reply is None:
                return
            if "method" in reply:
                self.events.append(reply)

    def _get(self, deadline: float, waiting_for: str) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"Chromium: no answer to {waiting_for}")
        try:
            reply = self._messages.get(timeout=left)
        except queue.Empty:
            raise TimeoutError(f"Chromium: no answer to {waiting_for}") from None
        if reply is None:
            raise RuntimeError(f"Chromium closed the DevTools pipe while waiting for {waiting_for}")
        return reply


# Puts the two pipe ends on fds 3 and 4, then becomes the browser (a shell cannot name fds above 9).
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); os.execv(sys.argv[3], sys.argv[3:])"
)


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or more, so that placing one end on fd 3 or 4 cannot overwrite the other."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def open_page(
    url: str, width: int = 1280, height: int = 900, expression: str | None = None, timeout: float = 60.0
) -> PageResult:
    """Load ``url`` in a fresh headless Chromium with a ``width`` x ``height`` viewport; the screenshot is
    of that viewport; ``expression`` (JavaScript) is evaluated after the load event."""
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError(INSTALL_HINT)
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()
    to_browser_r, from_browser_w = _high_fd(to_browser_r), _high_fd(from_browser_w)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, tempfile.TemporaryFile() as stderr:
        flags = [
            "--headless",
            "--remote-debugging-pipe",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        # fd 3: what the browser reads, fd 4: what it writes (the protocol's fixed numbers)
        command = [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w), chromium, *flags]
        proc = subprocess.Popen(
            command,
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        pipe = _Pipe(from_browser_r, to_browser_w)
        try:
            return _load(pipe, url, width, height, expression, timeout)
        except (TimeoutError, RuntimeError, OSError) as exc:
            stderr.seek(0)
            raise RuntimeError(f"{exc}; Chromium's stderr:\n{stderr.read().decode(errors='replace')[-4000:]}") from exc
        finally:
            with contextlib.suppress(Exception):  # it may be gone already
                pipe.call("Browser.close", timeout=10)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_browser_w)
            os.close(from_browser_r)


def _load(pipe: _Pipe, url: str, width: int, height: int, expression: str | None, timeout: float) -> PageResult:
    target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for method in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
        pipe.call(method, session=session)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        session=session,
    )
    pipe.events.clear()
    navigation = pipe.call("Page.navigate", {"url": url}, session=session)
    if navigation.get("errorText"):
        raise RuntimeError(f"navigation to {url} failed: {navigation['errorText']}")
    pipe.wait_event("Page.loadEventFired", timeout=timeout)
    pipe.drain(0.5)  # late errors (image decoding, deferred loads)
    evaluated = None
    if expression:
        result = pipe.call(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}, session=session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluating {expression!r}: {result['exceptionDetails']}")
        evaluated = result["result"].get("value")
    shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session, timeout=timeout)
    out = PageResult(screenshot=base64.b64decode(shot["data"]), evaluated=evaluated)
    for event in pipe.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            out.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            out.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            out.console_errors.append(f"{entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
        elif method == "Network.requestWillBeSent":
            out.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            out.failed_loads.append(f"{params.get('errorText')} ({params.get('blockedReason', '')})")
        elif method == "Page.javascriptDialogOpening":
            out.dialogs.append(params.get("message", ""))
    return out
