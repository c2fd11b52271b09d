"""Process management for the end-to-end tests.

Free 127.0.0.1 ports; Prometheus and Alertmanager as subprocesses, each with its own temp
directory and log file, waited for until ready and stopped (terminate, then kill) whatever
happens; an asyncio loop in a background thread that keeps the in-process simulator, daemon
and webhook receiver serving while the tests block on HTTP calls; and small clients for
Prometheus's HTTP API and the webhook's record of notifications.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web

from tests.conftest import real_time

T = TypeVar("T")

#: Debian names Alertmanager's binary prometheus-alertmanager; upstream tarballs alertmanager
ALERTMANAGER_NAMES = ("prometheus-alertmanager", "alertmanager")
PROMETHEUS_NAMES = ("prometheus",)


def find_binary(names: Sequence[str]) -> str | None:
    """Path of the first of `names` on PATH, or None."""
    for name in names:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (for subprocesses, which
    cannot report the port they bound to 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(
    url: str, timeout: float = 5.0, auth: tuple[str, str] | None = None
) -> tuple[int, bytes]:
    """Status and body of a GET (with basic auth if given); (0, b"") when nothing answers."""
    req = urllib.request.Request(url)
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def http_post_json(url: str, body: Any, timeout: float = 5.0) -> Any:
    """POST a JSON body, return the decoded JSON answer (raises on HTTP errors)."""
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_until(pred: Callable[[], T], timeout: float, what: str, step: float = 0.2) -> T:
    """Poll `pred` until it returns something truthy; fail naming `what` after `timeout`."""
    end = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


class ManagedProcess:
    """A server binary run in its own session with output to a log file."""

    def __init__(self, name: str, argv: list[str], workdir: Path) -> None:
        self.name = name
        self.argv = argv
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Spawn the process; its stdout and stderr go to `log_path`."""
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest does not reach it; stop() does
            )

    def wait_ready(self, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers 200; fail with the log if the process exits or never does."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                    + self.log_tail()
                )
            if http_get(url, timeout=1.0)[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready at {url} after {timeout}s:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines of the process's output."""
        if not self.log_path.exists():
            return f"({self.name}: no log)"
        text = self.log_path.read_text(errors="replace").splitlines()
        return f"--- {self.name} log ({self.log_path}) ---\n" + "\n".join(text[-lines:])


def write_yaml(path: Path, data: Any) -> Path:
    """Write `data` as YAML to `path` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def prometheus_process(
    binary: str,
    workdir: Path,
    *,
    port: int,
    target: str,
    alertmanager: str,
    rule_files: Sequence[Path],
    interval_s: float,
) -> ManagedProcess:
    """Prometheus scraping `target` as job `tapwatch` every `interval_s`, evaluating
    `rule_files` as often and sending alerts to the Alertmanager at `alertmanager`."""
    interval = f"{int(interval_s * 1000)}ms"
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [{"job_name": "tapwatch", "static_configs": [{"targets": [target]}]}],
    }
    config_path = write_yaml(workdir / "prometheus.yml", config)
    return ManagedProcess(
        "prometheus",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=info",
        ],
        workdir,
    )


def alertmanager_process(
    binary: str, workdir: Path, *, port: int, config: dict[str, Any]
) -> ManagedProcess:
    """Alertmanager with `config`, clustering off (an empty cluster listen address)."""
    config_path = write_yaml(workdir / "alertmanager.yml", config)
    return ManagedProcess(
        "alertmanager",
        [
            binary,
            f"--config.file={config_path}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=info",
        ],
        workdir,
    )


class PrometheusAPI:
    """The few calls of Prometheus's HTTP API the tests make."""

    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, params: dict[str, str] | None = None) -> Any:
        """The `data` of a successful API answer; fails the test on any error."""
        params = params or {}
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}"
        status, body = http_get(url, timeout=10.0)
        try:
            doc = json.loads(body)
        except ValueError:
            raise AssertionError(f"GET {url}: HTTP {status}, not JSON: {body[:200]!r}") from None
        if status != 200 or doc.get("status") != "success":
            raise AssertionError(f"GET {url}: HTTP {status}: {doc.get('error', doc)}")
        return doc["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Instant query now; the result's samples (scalars come back as one sample)."""
        data = self.get("/api/v1/query", {"query": expr})
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        return list(data["result"])

    def query_range(self, expr: str, seconds: float, step: float) -> list[dict[str, Any]]:
        """Range query over the last `seconds` (of the real clock, which Prometheus runs on)."""
        end = real_time()
        data = self.get(
            "/api/v1/query_range",
            {"query": expr, "start": str(end - seconds), "end": str(end), "step": str(step)},
        )
        return list(data["result"])

    def value(self, expr: str) -> float | None:
        """The value of a query that returns at most one sample, or None if empty."""
        result = self.query(expr)
        if len(result) > 1:
            raise AssertionError(f"{expr} returned {len(result)} series, expected one")
        return float(result[0]["value"][1]) if result else None


class LoopThread:
    """An asyncio loop in a daemon thread: in-process servers keep serving while tests block."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="e2e-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        """Run `coro` on the loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop and join its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self.loop.close()


@dataclass(frozen=True, slots=True)
class Notification:
    """One webhook call from Alertmanager, stamped with time.monotonic() on arrival."""

    received_at: float
    path: str  # e.g. /tapwatch/owner/district-party-school
    payload: dict[str, Any]

    def firing(self, alertname: str, app: str | None = None) -> list[dict[str, Any]]:
        """The firing alerts named `alertname` (for `app`, if given) in this notification."""
        return [
            a
            for a in self.payload.get("alerts", [])
            if a.get("status") == "firing"
            and a["labels"].get("alertname") == alertname
            and (app is None or a["labels"].get("app") == app)
        ]


class WebhookReceiver:
    """Alertmanager's webhook receivers, all served by the test: records every call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Notification] = []
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Serve on a free 127.0.0.1 port (run on the LoopThread); returns the port."""
        app = web.Application()
        app.router.add_post("/{path:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = int(server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        payload = await request.json()
        note = Notification(time.monotonic(), request.path, payload)
        with self._lock:
            self._seen.append(note)
        return web.Response(text="ok")

    def notifications(self) -> list[Notification]:
        """Every call so far, in arrival order."""
        with self._lock:
            return list(self._seen)

    def first_firing(
        self, alertname: str, app: str | None = None, after: float = 0.0
    ) -> Notification | None:
        """The first call received after `after` that carries `alertname` firing."""
        for note in self.notifications():
            if note.received_at >= after and note.firing(alertname, app):
                return note
        return None

    def wait_firing(
        self, alertname: str, app: str | None = None, after: float = 0.0, timeout: float = 60.0
    ) -> Notification:
        """Wait for `first_firing`; fail naming the alert after `timeout`."""
        return wait_until(
            lambda: self.first_firing(alertname, app, after),
            timeout,
            f"{alertname}{f' for {app}' if app else ''} at the webhook",
            step=0.05,
        )

    def summary(self) -> str:
        """One line per call: when, receiver path, alerts (for failure reports)."""
        lines = []
        for n in self.notifications():
            alerts = ", ".join(
                f"{a['labels'].get('alertname')}[{a['labels'].get('app', '-')}]:{a['status']}"
                for a in n.payload.get("alerts", [])
            )
            lines.append(f"{n.received_at:.2f} {n.path}: {alerts}")
        return "\n".join(lines) or "(no webhook calls)"
