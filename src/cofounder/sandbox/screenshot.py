"""Screenshots of the app under construction, so the model can see what it built.

A headless Chromium, driven by Playwright's sync API, loads the page once per viewport (a
desktop and a phone width by default) and returns viewport-sized PNGs.

The page is untrusted: an LLM wrote it. Given the sandbox's network namespace (`netns_path`),
the browser runs inside it (via `nsenter`), so the page reaches exactly what the sandboxed app
reaches and never the host's loopback services. Without one, the browser uses the host's
network; only do that for pages you trust.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

_SETTLE_MS = 1500  # after "load", how long to wait for the network to go quiet (XHR, fonts)
_NOBODY = 65534  # the browser's uid and gid when the worker is root
_LOG_LINES = 8  # how much of Chromium's own complaint to pass on when it fails to start


@dataclass(frozen=True)
class Viewport:
    """A browser window size; `mobile` turns on phone emulation (meta viewport, touch)."""

    name: str
    width: int
    height: int
    mobile: bool = False


DESKTOP = Viewport("desktop", 1280, 800)
MOBILE = Viewport("mobile", 390, 844, mobile=True)


@dataclass(frozen=True)
class Screenshot:
    """One picture: PNG bytes of exactly `viewport` size, and the page's HTTP status.

    An error status (404, 500) is still a picture: the model should see the error page.
    `status` is None when the browser got no HTTP response for the page itself.
    """

    viewport: Viewport
    png: bytes
    status: int | None = None


class ScreenshotError(Exception):
    """The page could not be captured; the message says what failed and how to fix it."""


def find_chromium(configured: str | None = None) -> str:
    """The Chromium binary to drive: `configured` if given, else `chromium` on PATH.

    A configured path that is wrong is an error rather than a silent fallback, so a typo in
    COFOUNDER_CHROMIUM is noticed instead of quietly using another browser.
    """
    if configured:
        if os.path.isfile(configured) and os.access(configured, os.X_OK):
            return configured
        raise ScreenshotError(
            f"the configured Chromium {configured!r} does not exist or is not executable; "
            "fix COFOUNDER_CHROMIUM or unset it to use `chromium` from PATH"
        )
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise ScreenshotError(
        "screenshots need Chromium and none was found on PATH; install it with "
        "`apt-get install -y chromium` (or set COFOUNDER_CHROMIUM to its path)"
    )


def capture(
    url: str,
    *,
    chromium: str,
    netns_path: str | None = None,
    nsenter: str | None = None,
    viewports: Sequence[Viewport] = (DESKTOP, MOBILE),
    timeout_s: float = 20.0,
) -> list[Screenshot]:
    """Load `url` once per viewport in one browser and return a screenshot of each.

    With `netns_path` (e.g. /proc/PID/ns/net of the sandbox) the browser runs inside that
    network namespace. Safe to call from any thread, including one running an asyncio loop:
    Playwright's sync API refuses to run there, so the work happens on a fresh thread.
    Raises ScreenshotError when the browser cannot start or the page cannot be loaded.
    """
    if not url.startswith(("http://", "https://")):
        raise ScreenshotError(f"can only capture http(s) pages, not {url!r}")
    if netns_path is not None:
        if not os.path.exists(netns_path):
            raise ScreenshotError(
                f"the sandbox's network namespace {netns_path} is gone; restart the sandbox"
            )
        nsenter = nsenter or shutil.which("nsenter")
        if nsenter is None:
            raise ScreenshotError(
                "capturing inside the sandbox's network needs nsenter; "
                "install it with `apt-get install -y util-linux`"
            )
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(
            _capture, url, chromium, netns_path, nsenter, tuple(viewports), timeout_s
        ).result()


def _launcher(
    workdir: str, chromium: str, netns_path: str | None, nsenter: str | None
) -> tuple[str, bool]:
    """The executable Playwright starts, and whether Chromium's own sandbox can stay on.

    Playwright takes an executable, not a command line, so the namespace switch and the
    privilege drop go into a wrapper; Playwright's flags follow through "$@". As root,
    Chromium refuses its sandbox, so the wrapper drops to `nobody` (handing it the profile
    folder Playwright made) and the renderer sandbox stays on: a page that exploits the
    renderer is still boxed, and the browser itself holds no privileges.
    """
    setpriv = shutil.which("setpriv") if os.geteuid() == 0 else None
    unshare = shutil.which("unshare") if setpriv is not None else None
    if netns_path is None and setpriv is None:
        return chromium, False
    lines = ["#!/bin/sh"]
    command = shlex.quote(chromium)
    if setpriv is not None:
        lines.append(
            'for a in "$@"; do case "$a" in --user-data-dir=*) d="${a#--user-data-dir=}"; '
            f'chown -R {_NOBODY}:{_NOBODY} "$d"; export HOME="$d";; esac; done'
        )
        command = (
            f"{shlex.quote(setpriv)} --reuid={_NOBODY} --regid={_NOBODY} --clear-groups " + command
        )
    if unshare is not None:
        # Chromium's helpers (zygotes, crashpad) outlive the browser, orphaned: in a pid
        # namespace of their own the kernel ends and reaps them all when the browser exits,
        # instead of leaving zombies for whoever adopts them (a worker that is pid 1).
        command = f"{shlex.quote(unshare)} --pid --fork --kill-child -- {command}"
    if netns_path is not None and nsenter is not None:
        command = f"{shlex.quote(nsenter)} --net={shlex.quote(netns_path)} -- {command}"
    lines.append(f'exec {command} "$@"')
    executable = os.path.join(workdir, "chromium-launcher")
    with open(executable, "w", encoding="utf-8") as script:
        script.write("\n".join(lines) + "\n")
    os.chmod(executable, stat.S_IRWXU)
    return executable, setpriv is not None


def _capture(
    url: str,
    chromium: str,
    netns_path: str | None,
    nsenter: str | None,
    viewports: tuple[Viewport, ...],
    timeout_s: float,
) -> list[Screenshot]:
    timeout_ms = timeout_s * 1000
    workdir = tempfile.mkdtemp(prefix="cofounder-shot-")  # mode 0700
    try:
        executable, sandboxed = _launcher(workdir, chromium, netns_path, nsenter)
        with sync_playwright() as p:
            try:
                browser = p.chromium.launch(
                    executable_path=executable, timeout=timeout_ms, chromium_sandbox=sandboxed
                )
            except PlaywrightError as exc:
                where = " inside the sandbox's network (via nsenter)" if netns_path else ""
                raise ScreenshotError(
                    f"Chromium ({chromium}) failed to start{where}: {_browser_log(exc)}; "
                    f"check that `{chromium} --headless --version` works"
                ) from None
            try:
                # Load every viewport before settling any, so their quiet periods overlap.
                loaded = [(vp, *_load(browser, url, vp, timeout_ms)) for vp in viewports]
                shots = []
                for vp, page, status in loaded:
                    # A page that polls forever never goes quiet; it is still worth a picture.
                    with contextlib.suppress(PlaywrightTimeoutError):
                        page.wait_for_load_state("networkidle", timeout=_SETTLE_MS)
                    png = page.screenshot(type="png", timeout=timeout_ms)
                    shots.append(Screenshot(vp, png, status))
                return shots
            except PlaywrightError as exc:  # e.g. the renderer crashed, a screenshot timed out
                first = (exc.message.splitlines() or ["unknown error"])[0]
                raise ScreenshotError(f"the browser failed on {url}: {first}") from None
            finally:
                browser.close()  # and with it every context and page
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _load(browser: Browser, url: str, vp: Viewport, timeout_ms: float) -> tuple[Page, int | None]:
    """Open `url` in a fresh context of `vp`'s size; the page and its HTTP status."""
    context = browser.new_context(
        viewport={"width": vp.width, "height": vp.height},
        device_scale_factor=1,
        is_mobile=vp.mobile,
        has_touch=vp.mobile,
        accept_downloads=False,
        service_workers="block",
    )
    page = context.new_page()
    try:
        response = page.goto(url, wait_until="load", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        raise ScreenshotError(
            f"the page at {url} did not finish loading within {timeout_ms / 1000:g} s "
            "(a hung request or an endless script?)"
        ) from None
    except PlaywrightError as exc:
        reason = (exc.message.splitlines() or ["unknown error"])[0].removeprefix("Page.goto: ")
        if "ERR_CONNECTION_REFUSED" in reason:
            raise ScreenshotError(
                f"nothing answers at {url} — is the app running? ({reason})"
            ) from None
        raise ScreenshotError(f"could not load {url}: {reason}") from None
    return page, (response.status if response is not None else None)


def _browser_log(exc: PlaywrightError) -> str:
    """What Chromium itself printed before dying, without Playwright's long launch line."""
    said = [
        line.split("]", 2)[2].strip()
        for line in exc.message.splitlines()
        if line.startswith("[pid=") and ("][err]" in line or "][out]" in line)
    ]
    said = [line for line in said if line][:_LOG_LINES]
    return " / ".join(said) if said else "it exited without saying why"
