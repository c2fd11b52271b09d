"""The end-to-end stack, shared by every e2e test of the session.

On 127.0.0.1, free ports, all stopped at the end of the session (or when setup fails half
way): the simulated fleet and the daemon in-process on a background event loop, the test's
webhook receiver on the same loop, a real Alertmanager that notifies it, and a real
Prometheus that scrapes the daemon and evaluates the e2e variant of the mixin's rules.

The rules are rendered from `monitoring.mixin` with the committed e2e settings
(`monitoring.mixin.config.E2E`: `for:` of 0 s or 10 s) and one change: `tapwatch_url` is
this daemon's address, so `findings_url` links point at it. The e2e fleet has two
shutdown candidates (empty-shell, party-official-account), below `fleet_jump_min_apps` (5), so
TapwatchFleetCandidateJump, whose inhibit rule would hold the per-app candidate alerts,
cannot fire; test_alerting_e2e checks that it never did.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitoring.mixin.alertmanager import E2E_TIMING, alertmanager_config
from monitoring.mixin.alerts import alert_groups
from monitoring.mixin.config import E2E, MixinConfig
from monitoring.mixin.recording import recording_groups
from monitoring.mixin.render import to_yaml

from tapwatch.daemon.auth import create_demo_users
from tapwatch.daemon.runtime import Daemon
from tapwatch.pseudonym import generate_key_file
from tapwatch.simulator import Simulator, SimulatorOptions
from tests.conftest import real_time
from tests.e2e.helpers import (
    ALERTMANAGER_NAMES,
    PROMETHEUS_NAMES,
    LoopThread,
    ManagedProcess,
    PrometheusAPI,
    WebhookReceiver,
    alertmanager_process,
    find_binary,
    free_port,
    http_get,
    prometheus_process,
    wait_until,
)

#: Prometheus scrape and rule evaluation interval
SCRAPE_S = 1.0
#: the daemon's poll interval for every app (registry and collector default). Not 1 s: an
#: app's data counts as stale after three intervals, and at 1 s the oldest data seen at a
#: scrape here was already 2.1 s old; a TapwatchAppDataStale would inhibit the app's alerts
POLL_S = 2.0
DETECT_S = 2.0
#: Scale 0.3 and 60 days keep catch-up near 10 s on two cores. 60 days (not 45) because
#: the trend signal needs them: empty-shell then scores about 75, not 71.5, so it stays in
#: the candidate band (>= 70) whatever the time of day.
SIM_OPTIONS = SimulatorOptions(
    seed=1, scale=0.3, history_days=60, poll_interval=f"{POLL_S:g}s", poll_timeout="5s"
)


@dataclass
class Stack:
    """Handles on the running end-to-end stack."""

    tmp: Path
    loop: LoopThread
    sim: Simulator
    sim_url: str
    daemon: Daemon
    daemon_url: str
    viewer: tuple[str, str]  # a login for the daemon's findings pages and API
    webhook: WebhookReceiver
    prometheus: ManagedProcess
    prom: PrometheusAPI
    alertmanager: ManagedProcess
    alertmanager_url: str
    mixin: MixinConfig  # what the loaded rules were rendered with
    started_at: float  # real_time() when Prometheus started (it runs on the real clock)

    def ground_truth(self) -> dict[str, Any]:
        """The simulator's ground truth now (over HTTP, so no thread touches its state)."""
        status, body = http_get(f"{self.sim_url}/admin/ground-truth", timeout=30.0)
        assert status == 200, status
        return json.loads(body)

    def seconds_running(self) -> int:
        """Whole seconds since Prometheus started (a range that covers all its data)."""
        return int(real_time() - self.started_at) + 1

    def diagnostics(self) -> str:
        """Logs and state to print when a test fails."""
        status, body = http_get(f"{self.daemon_url}/debug/apps")
        return "\n\n".join(
            [
                self.prometheus.log_tail(),
                self.alertmanager.log_tail(),
                "--- webhook calls ---\n" + self.webhook.summary(),
                f"--- daemon /debug/apps (HTTP {status}) ---\n" + body.decode(errors="replace"),
            ]
        )


def _daemon_config(tmp: Path, registry: Path) -> Path:
    generate_key_file(tmp / "pseudonym.key")
    cfg = {
        "server": {"listen": "127.0.0.1:0", "users_file": str(tmp / "users.yaml")},
        "store": {"path": str(tmp / "store.sqlite")},
        "pseudonymisation": {"key_file": str(tmp / "pseudonym.key")},
        "collector": {
            "default_interval": f"{POLL_S:g}s",
            "default_timeout": "5s",
            "max_backoff": "5s",
        },
        "detect": {"interval": f"{DETECT_S:g}s"},
        "apps_dir": str(registry.parent),
    }
    path = tmp / "tapwatch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _rule_files(tmp: Path, cfg: MixinConfig) -> list[Path]:
    rules = tmp / "rules"
    rules.mkdir()
    recording = rules / "recording.yaml"
    recording.write_text(to_yaml({"groups": recording_groups()}))
    alerts = rules / "alerts.yaml"
    alerts.write_text(to_yaml({"groups": alert_groups(cfg)}))
    return [recording, alerts]


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack, started once; skipped where Prometheus or Alertmanager is missing."""
    prometheus_bin = find_binary(PROMETHEUS_NAMES)
    alertmanager_bin = find_binary(ALERTMANAGER_NAMES)
    if prometheus_bin is None or alertmanager_bin is None:
        pytest.skip("prometheus / prometheus-alertmanager not installed (scripts/setup-test-deps)")
    tmp = tmp_path_factory.mktemp("e2e")
    with contextlib.ExitStack() as cleanup:
        loop = LoopThread()
        cleanup.callback(loop.close)

        sim = Simulator(replace(SIM_OPTIONS))
        sim_port = loop.run(sim.start())
        cleanup.callback(lambda: loop.run(sim.stop()))
        registry = tmp / "apps.d" / "fleet.yaml"
        sim.write_registry(registry)

        webhook = WebhookReceiver()
        webhook_port = loop.run(webhook.start())
        cleanup.callback(lambda: loop.run(webhook.stop()))

        viewer = ("viewer", create_demo_users(tmp)["viewer"])
        daemon = Daemon(_daemon_config(tmp, registry))
        loop.run(daemon.start())
        cleanup.callback(lambda: loop.run(daemon.stop()))
        daemon_url = f"http://127.0.0.1:{daemon.port}"

        am_port = free_port()
        owners = tuple(sorted({a.owner for a in sim.apps}))
        am_config = alertmanager_config(
            webhook_base=f"http://127.0.0.1:{webhook_port}/tapwatch",
            owners=owners,
            timing=E2E_TIMING,
        )
        (tmp / "alertmanager").mkdir()
        alertmanager = alertmanager_process(
            alertmanager_bin, tmp / "alertmanager", port=am_port, config=am_config
        )
        alertmanager.start()
        cleanup.callback(alertmanager.stop)
        alertmanager_url = f"http://127.0.0.1:{am_port}"
        alertmanager.wait_ready(f"{alertmanager_url}/-/ready")

        mixin = replace(E2E, tapwatch_url=daemon_url)
        prom_port = free_port()
        (tmp / "prometheus").mkdir()
        prometheus = prometheus_process(
            prometheus_bin,
            tmp / "prometheus",
            port=prom_port,
            target=f"127.0.0.1:{daemon.port}",
            alertmanager=f"127.0.0.1:{am_port}",
            rule_files=_rule_files(tmp, mixin),
            interval_s=SCRAPE_S,
        )
        started_at = real_time()
        prometheus.start()
        cleanup.callback(prometheus.stop)
        prom_url = f"http://127.0.0.1:{prom_port}"
        prometheus.wait_ready(f"{prom_url}/-/ready")

        yield Stack(
            tmp=tmp,
            loop=loop,
            sim=sim,
            sim_url=f"http://127.0.0.1:{sim_port}",
            daemon=daemon,
            daemon_url=daemon_url,
            viewer=viewer,
            webhook=webhook,
            prometheus=prometheus,
            prom=PrometheusAPI(prom_url),
            alertmanager=alertmanager,
            alertmanager_url=alertmanager_url,
            mixin=mixin,
            started_at=started_at,
        )


@pytest.fixture(scope="session")
def steady_stack(stack: Stack) -> Stack:
    """The stack once every app is caught up and judged and Prometheus scrapes the daemon."""
    d = stack.daemon

    def judged() -> bool:
        result = d.detect.result
        metrics = getattr(result, "metrics", {}) if result is not None else {}
        return all(s.caught_up for s in d.states.values()) and set(metrics) == set(d.states)

    wait_until(judged, 90, "every app caught up and judged")
    wait_until(
        lambda: stack.prom.value('up{job="tapwatch"}') == 1, 30, "Prometheus scraping tapwatch"
    )
    return stack


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, for `_dump_logs_on_failure`."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture(autouse=True)
def _dump_logs_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print Prometheus's and Alertmanager's logs and the webhook calls when a test fails."""
    yield
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").diagnostics())
