"""Shared helpers of the benchmark suite: server environment, seeding, daphne/nginx processes,
a raw HTTP/1.1 client (one new connection per request), login, load phases and machine facts.

Every bench script imports from here (bench/run.py runs them all, see bench/README.md).
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PASSWORD = "bench-pw-123"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


class BenchFailure(RuntimeError):
    """A correctness check of the suite failed (the suite exits non-zero)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path, port: int, debug: bool = False, *, database_url: str | None = None,
               redis_url: str | None = None, prefix: str | None = None) -> dict:
    """The environment of manage.py and daphne: SQLite file in `tmp` unless `database_url`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_PREFIX", "CACHE_PREFIX")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "backend.settings",
        "VAR_DIR": str(tmp),
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bench.sqlite3'}",
        "DEBUG": "1" if debug else "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "SECURE_SSL_REDIRECT": "0",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "ERROR",
        "PYTHONUNBUFFERED": "1",
    })
    if redis_url:
        prefix = prefix or f"vm_bench_{uuid.uuid4().hex[:6]}"
        env.update(REDIS_URL=redis_url, CHANNEL_PREFIX=prefix, CACHE_PREFIX=prefix)
    return env


def create_postgres_db(name: str) -> str:
    """A fresh, empty PostgreSQL database `name` (dropped first); returns its URL."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres_db(name: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(env: dict, *args: str, timeout: float = 600) -> str:
    out = subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True, timeout=timeout)
    return out.stdout


def shell_json(env: dict, code: str) -> object:
    """Run `code` in `manage.py shell -c` and parse the last line that starts with JSON."""
    out = manage(env, "shell", "-c", code)
    return json.loads([ln for ln in out.splitlines() if ln.startswith("JSON")][-1][4:])


def seed(env: dict, clients: int) -> None:
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--password", PASSWORD, "--clients", str(clients))


def start_daphne(env: dict, port: int, app: str, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen([PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
                            cwd=ROOT, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    wait_port(port, proc, log)
    return proc


def wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process on port {port} exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/nginx-body;
    proxy_temp_path {tmp}/nginx-proxy;
    fastcgi_temp_path {tmp}/nginx-fcgi;
    uwsgi_temp_path {tmp}/nginx-uwsgi;
    scgi_temp_path {tmp}/nginx-scgi;
    upstream vm_web {{
        least_conn;
        {servers}
        keepalive 32;
    }}
    map $http_upgrade $connection_upgrade {{ default upgrade; "" ""; }}
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        proxy_connect_timeout 5s;
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 2;
        location /ws/ {{ proxy_pass http://vm_web; proxy_read_timeout 1h; proxy_send_timeout 1h;
                         proxy_buffering off; }}
        location / {{ proxy_pass http://vm_web; proxy_read_timeout 120s; }}
    }}
}}
"""


def start_nginx(tmp: Path, port: int, upstream_ports: list[int]) -> subprocess.Popen:
    """Debian's nginx in the foreground, configured like deploy/nginx.conf, on loopback."""
    servers = "\n        ".join(f"server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in upstream_ports)
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, servers=servers))
    log = tmp / "nginx.log"
    proc = subprocess.Popen(["/usr/sbin/nginx", "-p", str(tmp), "-c", str(conf), "-g", "daemon off;"],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_port(port, proc, log)
    return proc


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def machine() -> dict:
    return {"cores": os.cpu_count(), "cpu": cpu_model(), "loadavg": [round(x, 2) for x in os.getloadavg()]}


def pct(values: list[float], p: float) -> float:
    """p-th percentile (0-100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


# ---------------------------------------------------------------------------------------------
# a tiny HTTP/1.1 client: one new connection per request
# ---------------------------------------------------------------------------------------------

async def http(port: int, method: str, path: str, body: bytes = b"", headers: dict | None = None,
               timeout: float = 30) -> tuple[int, dict, bytes]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
                 f"Content-Length: {len(body)}"]
        for key, value in (headers or {}).items():
            lines.append(f"{key}: {value}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: dict[str, list[str]] = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed.setdefault(key.strip().lower(), []).append(value.strip())
    return int(status_line.split()[1]), parsed, payload


def cookies_of(headers: dict) -> dict:
    cookies = {}
    for value in headers.get("set-cookie", []):
        name, _, rest = value.partition("=")
        cookies[name] = rest.split(";", 1)[0]
    return cookies


async def login(port: int, username: str = "host") -> dict:
    """Session login as a demo user: the headers of an API client (cookie, CSRF token, JSON)."""
    status, headers, payload = await http(port, "POST", "/api/v1/auth/login",
                                          json.dumps({"username": username, "password": PASSWORD}).encode(),
                                          {"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"login as {username} failed: {status} {payload[:200]!r}")
    cookies = cookies_of(headers)
    return {"Cookie": f"sessionid={cookies['sessionid']}; csrftoken={cookies['csrftoken']}",
            "X-CSRFToken": cookies["csrftoken"], "Content-Type": "application/json"}


def classify(status: int, path: str, payload: bytes) -> str:
    if status == 200 and (path.endswith("/redeem") or path.endswith("/interests")):
        answer = json.loads(payload)
        if answer.get("replayed"):
            return "replayed"
        if path.endswith("/interests") and answer.get("status") == "ok":
            return "created" if answer["lead"]["created"] else "updated"
        return answer.get("reason") or "ok"
    return str(status)


async def run_phase(port: int, requests: list, headers: dict | list[dict], concurrency: int,
                    time_limit: float, server_pids: list[int]) -> dict:
    """Send `requests` [(method, path, body) or (method, path, body, worker)] with `concurrency`
    workers, a new connection per request, for at most `time_limit` seconds. `headers` is one
    dict, or one per worker (a request with a worker index goes to that worker's queue)."""
    per_worker = isinstance(headers, list)
    queues = [asyncio.Queue() for _ in range(concurrency if per_worker else 1)]
    for item in requests:
        queues[item[3] if per_worker else 0].put_nowait(item[:3])
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    errors: list[str] = []
    deadline = time.monotonic() + time_limit

    async def worker(index: int):
        queue = queues[index if per_worker else 0]
        hdrs = headers[index] if per_worker else headers
        while time.monotonic() < deadline:
            try:
                method, path, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            started = time.perf_counter()
            try:
                status, _h, payload = await http(port, method, path, body, hdrs)
            except Exception as exc:  # counted and reported, never hidden
                errors.append(repr(exc))
                continue
            latencies.append(time.perf_counter() - started)
            key = classify(status, path, payload)
            statuses[key] = statuses.get(key, 0) + 1

    cpu0 = {pid: cpu_seconds(pid) for pid in server_pids}
    own_cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    wall = time.perf_counter() - wall0
    server_cpu = sum(cpu_seconds(pid) - cpu0[pid] for pid in server_pids)
    own_cpu = time.process_time() - own_cpu0
    ms = [v * 1000 for v in latencies]
    return {"requests": len(latencies), "sent": len(requests), "seconds": round(wall, 2),
            "rate": round(len(latencies) / wall, 1),
            "p50": round(pct(ms, 50), 1), "p95": round(pct(ms, 95), 1), "p99": round(pct(ms, 99), 1),
            "mean": round(statistics.fmean(ms), 1) if ms else None,
            "errors": len(errors), "error_samples": errors[:3], "outcomes": statuses,
            "server_cpu": round(server_cpu / wall, 2), "loadgen_cpu": round(own_cpu / wall, 2)}
