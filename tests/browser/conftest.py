"""Browser test fixtures: a real daphne server in a subprocess and Debian's Chromium via Playwright.

Fixtures (see docs/frontend.md, "Browser tests"):

- ``live_server`` (session): daphne on a free loopback port with its own database (a SQLite file
  in a temp dir, or — when the test run has DATABASE_URL/REDIS_URL set — a fresh PostgreSQL
  database and the same Redis with a unique prefix), migrated and seeded with
  ``seed_demo --password browser-pw-123 --clients 12``. Has ``.url``, ``.password``, ``.env``,
  ``.log_path`` and ``.manage(*args)`` (runs manage.py against the same database, returns stdout).
- ``browser`` (session): Playwright (sync API) driving /usr/bin/chromium headless.
- ``context_factory``: ``context_factory(viewport=..., locale=...)`` -> a new BrowserContext
  (``base_url`` is the live server), closed after the test.
- ``page``: a page in a fresh default context.
- ``login``: ``login(page, "coordinator")`` logs in through /login/.
- ``api_session``: ``api_session("host")`` -> an httpx.Client logged in through
  POST /api/v1/auth/login that sends X-CSRFToken; closed after the test.
- ``fake_camera_browser``: ``fake_camera_browser(y4m_path)`` -> a separate Chromium whose camera
  plays the y4m file; closed after the test.
- ``qr_y4m``: ``qr_y4m(text, path)`` renders a QR code into a y4m video for the fake camera
  (also importable: ``from tests.browser.conftest import qr_y4m``).

Playwright's sync API and pytest-asyncio share one thread: between sync calls Playwright
keeps its own event loop marked as *running* in the thread (its sync wrappers need that),
which would break every later ``loop.run_until_complete`` (async tests) and make Django's ORM
raise SynchronousOnlyOperation. ``_PlaywrightLoopGuard`` un-marks it around every test that does
not use Playwright, and browser tests are moved to the end of the run, so browser tests and
async tests mix freely in one pytest session. Inside a browser test the loop *is* marked as
running: talk to the server (``live_server.manage``, ``api_session``), not to the ORM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DEMO_PASSWORD = "browser-pw-123"
DEMO_CLIENTS = 12
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
STARTUP_TIMEOUT = 90


# --------------------------------------------------------------------------------------------
# Playwright <-> asyncio isolation
# --------------------------------------------------------------------------------------------

_PLAYWRIGHT_LOOP: asyncio.AbstractEventLoop | None = None


def _uses_playwright(item) -> bool:
    return "playwright_instance" in getattr(item, "fixturenames", ())


@contextlib.contextmanager
def _playwright_loop_released(item):
    """Outside tests that use Playwright, un-mark its loop as running in this thread."""
    loop = _PLAYWRIGHT_LOOP
    if loop is None or _uses_playwright(item) or asyncio._get_running_loop() is not loop:
        yield
        return
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        if not loop.is_closed() and asyncio._get_running_loop() is None:
            asyncio._set_running_loop(loop)


class _PlaywrightLoopGuard:
    """A global plugin (conftest hooks would only see tests/browser/ items)."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        with _playwright_loop_released(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        with _playwright_loop_released(item):
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        with _playwright_loop_released(item):
            return (yield)


def pytest_configure(config):
    if not config.pluginmanager.has_plugin("vm-playwright-loop-guard"):
        config.pluginmanager.register(_PlaywrightLoopGuard(), "vm-playwright-loop-guard")


@pytest.fixture(scope="session")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    global _PLAYWRIGHT_LOOP
    pw = sync_playwright().start()
    _PLAYWRIGHT_LOOP = pw._loop
    yield pw
    asyncio._set_running_loop(_PLAYWRIGHT_LOOP)  # stop() resumes the loop's dispatcher
    try:
        pw.stop()
    finally:
        asyncio._set_running_loop(None)
        _PLAYWRIGHT_LOOP = None


def _launch(pw, extra_args=()):
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=[*CHROMIUM_ARGS, *extra_args])


# --------------------------------------------------------------------------------------------
# The live server
# --------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _admin_dsn(database_url: str) -> str:
    """The same PostgreSQL server, maintenance database `postgres`."""
    parsed = urlparse(database_url)
    return urlunparse(parsed._replace(scheme="postgresql", path="/postgres"))


def _with_database(database_url: str, name: str) -> str:
    return urlunparse(urlparse(database_url)._replace(path=f"/{name}"))


@dataclass
class LiveServer:
    url: str
    password: str
    env: dict
    tmp: Path
    log_path: Path
    process: subprocess.Popen | None = None
    database: str = ""
    extra: dict = field(default_factory=dict)

    def manage(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """Run `manage.py <args>` against the server's database; returns stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"manage.py {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}")
        return result.stdout

    def log(self, tail: int = 200) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no server log)"
        return "\n".join(lines[-tail:])


def _server_env(tmp: Path, port: int) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "DEBUG": "1",
        "VAR_DIR": str(tmp / "var"),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CSRF_TRUSTED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
    })
    database = ""
    suffix = uuid.uuid4().hex[:10]
    if os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        import psycopg

        database = f"vm_browser_{suffix}"
        with psycopg.connect(_admin_dsn(os.environ["DATABASE_URL"]), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        env["DATABASE_URL"] = _with_database(os.environ["DATABASE_URL"], database)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'browser.sqlite3'}"
    if os.environ.get("REDIS_URL"):
        env["CHANNEL_PREFIX"] = f"vm_browser_{suffix}"
        env["CACHE_PREFIX"] = f"vm_browser_{suffix}"
    return env, database


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_dsn(os.environ["DATABASE_URL"]), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _wait_healthy(server: LiveServer) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    last_error = ""
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"daphne exited with {server.process.returncode} before answering /healthz.\n"
                f"--- server log ---\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError as exc:
            last_error = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"daphne did not answer /healthz within {STARTUP_TIMEOUT}s ({last_error}).\n"
                       f"--- server log ---\n{server.log()}")


@pytest.fixture(autouse=True)
def _live_server_helper():
    """Replaces pytest-django's helper of the same name: our `live_server` is a separate process
    with its own database, so no test database or settings override is involved."""
    yield


@pytest.fixture(scope="session")
def live_server():
    tmp = Path(tempfile.mkdtemp(prefix="vm-browser-"))
    port = _free_port()
    env, database = _server_env(tmp, port)
    server = LiveServer(url=f"http://127.0.0.1:{port}", password=DEMO_PASSWORD, env=env, tmp=tmp,
                        log_path=tmp / "daphne.log", database=database)
    log_file = None
    try:
        server.manage("migrate", "--noinput")
        server.manage("seed_demo", "--password", DEMO_PASSWORD, "--clients", str(DEMO_CLIENTS))
        log_file = open(server.log_path, "ab")
        server.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "backend.asgi:application"],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        _wait_healthy(server)
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.process.terminate()
            try:
                server.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=10)
        if log_file is not None:
            log_file.close()
        if database:
            _drop_database(database)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"_vm_report_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _server_log_on_failure(request):
    """Print the tail of the daphne log when a test that used the live server failed."""
    yield
    if "live_server" not in request.fixturenames:
        return
    report = getattr(request.node, "_vm_report_call", None)
    if report is not None and report.failed:
        server = request.getfixturevalue("live_server")
        print(f"--- daphne log ({server.log_path}) ---\n{server.log()}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Everything under tests/browser/ is a browser test; they run last (one server, one browser)."""
    here = Path(__file__).parent
    browser_items = []
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)
            browser_items.append(item)
    if browser_items:
        chosen = set(map(id, browser_items))
        items[:] = [item for item in items if id(item) not in chosen] + browser_items


# --------------------------------------------------------------------------------------------
# Browsers, contexts, pages, logins
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser(playwright_instance):
    chromium = _launch(playwright_instance)
    yield chromium
    chromium.close()


@pytest.fixture
def context_factory(browser, live_server):
    contexts = []

    def make(**options):
        options.setdefault("base_url", live_server.url)
        options.setdefault("viewport", {"width": 1280, "height": 800})
        options.setdefault("locale", "nl-NL")
        ctx = browser.new_context(**options)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        with contextlib.suppress(Exception):
            ctx.close()


@pytest.fixture
def page(context_factory):
    return context_factory().new_page()


def login_page(page, base_url: str, username: str, password: str = DEMO_PASSWORD, next_url: str = "/"):
    page.goto(f"{base_url}/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if "/login/" in page.url:
        raise AssertionError(f"login as {username!r} failed; still on {page.url}")
    return page


def demo_market(coordinator) -> dict:
    """The market seed_demo made (open today, in the demo consultant's district, with stands),
    from `GET /api/v1/markets` of a coordinator session. Chosen by name: other browser tests make
    open markets with stands of their own, in other districts, in the same server."""
    from events.management.commands.seed_demo import DEMO_MARKET  # noqa: PLC0415

    markets = coordinator.get("/api/v1/markets").json()
    found = [m for m in markets if m["name"] == DEMO_MARKET and m["state"] == "open"]
    assert len(found) == 1, f"the demo market is not there (open) once: {markets}"
    return found[0]


@pytest.fixture
def login(live_server):
    def do_login(page, username: str, password: str | None = None, next_url: str = "/"):
        return login_page(page, live_server.url, username, password or live_server.password, next_url)

    return do_login


@pytest.fixture
def api_session(live_server):
    clients = []

    def make(username: str, password: str | None = None) -> httpx.Client:
        client = httpx.Client(base_url=live_server.url, timeout=30)
        clients.append(client)
        response = client.post("/api/v1/auth/login",
                               json={"username": username, "password": password or live_server.password})
        if response.status_code != 200:
            raise AssertionError(f"API login as {username!r} failed: {response.status_code} {response.text}")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        client.headers["Referer"] = f"{live_server.url}/"
        return client

    yield make
    for client in clients:
        client.close()


# --------------------------------------------------------------------------------------------
# The fake camera
# --------------------------------------------------------------------------------------------

def qr_y4m(text: str, path: str | os.PathLike, *, seconds: int = 3, size=(640, 480)) -> Path:
    """Render `text` as a big QR code on a white canvas and turn it into a y4m video."""
    import qrcode
    from PIL import Image

    path = Path(path)
    qr = qrcode.QRCode(border=4, box_size=10, error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    image = qr.make_image(fill_color="black", back_color="white").convert("RGB")
    side = min(size) - 40
    image = image.resize((side, side), Image.NEAREST)
    canvas = Image.new("RGB", size, "white")
    canvas.paste(image, ((size[0] - side) // 2, (size[1] - side) // 2))
    png = path.with_suffix(".png")
    canvas.save(png)
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-i", str(png),
         "-t", str(seconds), "-pix_fmt", "yuv420p", "-r", "10", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )
    return path


@pytest.fixture(name="qr_y4m")
def qr_y4m_fixture():
    return qr_y4m


@pytest.fixture
def fake_camera_browser(playwright_instance):
    browsers = []

    def launch(y4m_path: str | os.PathLike):
        chromium = _launch(playwright_instance,
                           [*FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={y4m_path}"])
        browsers.append(chromium)
        return chromium

    yield launch
    for chromium in browsers:
        with contextlib.suppress(Exception):
            chromium.close()


# --------------------------------------------------------------------------------------------
# Accessibility (vendored axe-core, see docs/frontend.md)
# --------------------------------------------------------------------------------------------

AXE_SCRIPT = "/static/vendor/axe-core/axe.min.js"
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")


def axe_violations(page, *, tags=AXE_TAGS, exclude=()) -> list[dict]:
    """Run axe-core on the page; returns its violations (a list of dicts)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE_SCRIPT)
    context = {"exclude": [[sel] for sel in exclude]} if exclude else None
    return page.evaluate(
        "async ([context, tags]) => (await axe.run(context || document,"
        " {runOnly: {type: 'tag', values: tags}})).violations",
        [context, list(tags)],
    )


def format_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(n["target"]) if isinstance(n["target"], list) else str(n["target"])
                            for n in v["nodes"][:5])
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} -> {targets}")
    return "\n".join(lines)


@pytest.fixture
def assert_accessible():
    """`assert_accessible(page)` fails with a readable list when axe-core finds WCAG 2.1 A/AA issues."""

    def check(page, *, tags=AXE_TAGS, exclude=()):
        violations = axe_violations(page, tags=tags, exclude=exclude)
        assert not violations, f"axe-core found {len(violations)} problem(s) on {page.url}:\n" + \
            format_violations(violations)

    return check
