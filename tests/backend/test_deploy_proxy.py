"""deploy/nginx.conf really balances HTTP and websockets across two daphne processes.

The production proxy config is run by the machine's nginx with its upstreams pointed at two
daphne processes on loopback ports (sharing one SQLite file and Redis, like web1/web2 share
PostgreSQL and Redis). Two dashboard sockets opened through the proxy land on different
processes (least_conn), and a market change made through the proxy reaches both of them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "proxy-pw-123"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{proc.args[0]} exited early:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer:\n{log.read_text(errors='replace')}")


@pytest.fixture
def proxied_pair(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert os.path.exists(nginx), "nginx is required (apt-get install nginx; .ci/run installs it)"
    web_ports = [free_port(), free_port()]
    proxy_port = free_port()
    base = f"http://127.0.0.1:{proxy_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update({
        "DEBUG": "1", "VAR_DIR": str(tmp_path / "var"), "PUBLIC_BASE_URL": base,
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "CSRF_TRUSTED_ORIGINS": base,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "CHANNEL_PREFIX": f"vm_proxy_{uuid.uuid4().hex[:8]}", "CACHE_PREFIX": f"vm_proxy_{uuid.uuid4().hex[:8]}",
        "PYTHONUNBUFFERED": "1",
    })
    for args in (["migrate", "--noinput"], ["seed_demo", "--password", PASSWORD, "--clients", "3"]):
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=300)

    procs, logs = [], []
    try:
        for i, port in enumerate(web_ports):
            log = tmp_path / f"web{i + 1}.log"
            logs.append(log)
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "--proxy-headers",
                 "backend.asgi:application"],
                cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        site = (ROOT / "deploy" / "nginx.conf").read_text()
        site = site.replace("web1:8000", f"127.0.0.1:{web_ports[0]}").replace("web2:8000", f"127.0.0.1:{web_ports[1]}")
        site = site.replace("listen 80 default_server", f"listen 127.0.0.1:{proxy_port} default_server")
        (tmp_path / "site.conf").write_text(site)
        (tmp_path / "nginx.conf").write_text(
            ("user root;\n" if os.geteuid() == 0 else "")
            + f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\nevents {{}}\n"
            f"http {{ access_log off; include {tmp_path}/site.conf; }}\n")
        nginx_log = tmp_path / "nginx-error.log"
        procs.append(subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                                       "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        for port, proc, log in zip(web_ports, procs, logs):
            wait_for(f"http://127.0.0.1:{port}/healthz", proc, log)
        nginx_log.touch()
        wait_for(f"{base}/nginx-health", procs[2], nginx_log)
        yield base, logs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_a_forged_x_forwarded_for_does_not_get_around_the_per_ip_limit(proxied_pair):
    """nginx hands daphne its own peer's address, not the header a client sends: failed logins
    under ever new usernames and ever new X-Forwarded-For still meet the per-IP limit."""
    from backend.ratelimit import LIMITS

    base, _logs = proxied_pair
    allowed, _window = LIMITS["login"]
    with httpx.Client(base_url=base, timeout=30) as client:
        statuses = [client.post("/api/v1/auth/login", json={"username": f"nobody{i}", "password": "wrong"},
                                headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(allowed + 2)]
    assert statuses[:allowed] == [401] * allowed and statuses[allowed:] == [429, 429], statuses


def test_proxy_balances_http_and_websockets_across_both_processes(proxied_pair):
    base, logs = proxied_pair
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(8):
            assert client.get("/healthz").status_code == 200
        assert all(re.search(r'"GET /healthz"', log.read_text()) for log in logs), \
            "both daphne processes must receive HTTP requests"

        login = client.post("/api/v1/auth/login", json={"username": "coordinator", "password": PASSWORD})
        assert login.status_code == 200, login.text
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        market_id = client.get("/api/v1/markets").json()[0]["id"]
        cookie = f"sessionid={client.cookies['sessionid']}"

        ws_url = base.replace("http://", "ws://") + f"/ws/markets/{market_id}/feed/?since=0"
        with connect(ws_url, origin=base, additional_headers={"Cookie": cookie}, open_timeout=10) as one, \
                connect(ws_url, origin=base, additional_headers={"Cookie": cookie}, open_timeout=10) as two:
            hellos = [json.loads(one.recv(timeout=10)), json.loads(two.recv(timeout=10))]
            assert [h["type"] for h in hellos] == ["hello", "hello"]
            assert all("WSCONNECT" in log.read_text() for log in logs), \
                "the two sockets must be spread over both processes (least_conn)"

            def drain_replay(ws, head):
                last = 0
                while last < head:
                    message = json.loads(ws.recv(timeout=10))
                    last = message.get("seq", last) if message["type"] == "entry" else last
                return last

            drain_replay(one, hellos[0]["head"])
            drain_replay(two, hellos[1]["head"])

            closed = client.post(f"/api/v1/markets/{market_id}/close")
            assert closed.status_code == 200, closed.text

            for ws in (one, two):
                kinds = []
                deadline = time.monotonic() + 10
                while "market.closed" not in kinds and time.monotonic() < deadline:
                    message = json.loads(ws.recv(timeout=10))
                    if message["type"] == "entry":
                        kinds.append(message["kind"])
                assert "market.closed" in kinds
