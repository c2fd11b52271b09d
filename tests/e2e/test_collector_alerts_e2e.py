"""tapwatch's own health alerts, end to end: an app that answers 500 raises
TapwatchAppScrapeFailing at the ops receiver with its numbers and links, a healthy app
raises nothing, and a stopped daemon raises TapwatchDown.

A small stack of its own (the session stack must stay free of collector alerts): two fake
apps, the daemon polling every second, real Prometheus and Alertmanager.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from monitoring.mixin.alertmanager import E2E_TIMING, alertmanager_config
from monitoring.mixin.alerts import alert_groups
from monitoring.mixin.config import E2E
from monitoring.mixin.recording import recording_groups
from monitoring.mixin.render import to_yaml

from tapwatch.daemon.runtime import Daemon
from tapwatch.pseudonym import generate_key_file
from tests.e2e.helpers import (
    ALERTMANAGER_NAMES,
    PROMETHEUS_NAMES,
    LoopThread,
    PrometheusAPI,
    WebhookReceiver,
    alertmanager_process,
    find_binary,
    free_port,
    prometheus_process,
)
from tests.integration.fakeapps import FakeApp, FakeFleet

pytestmark = pytest.mark.e2e
OWNER = "Demo Unit"


def _config(tmp: Path, fleet: FakeFleet) -> Path:
    generate_key_file(tmp / "pseudonym.key")
    apps = [
        {
            "id": app_id,
            "name": f"App {app_id}",
            "owner": OWNER,
            "region": "Demo District",
            "category": f"cat-{app_id}",
            "launched": "2024-01-01",
            "intended_users": 100,
            "source": {"kind": "usage_api", "url": fleet.url(app_id)},
        }
        for app_id in fleet.apps
    ]
    cfg = {
        "server": {"listen": "127.0.0.1:0"},
        "store": {"path": str(tmp / "store.sqlite")},
        "pseudonymisation": {"key_file": str(tmp / "pseudonym.key")},
        # a 10 s interval: the failing app never goes stale within the test, so only
        # TapwatchAppScrapeFailing speaks for it. Its retries come every 2 s (the backoff's
        # cap): the description quotes increase() of the error counter, which cannot see
        # a series' first sample, so the alert must not fire before a second failure is
        # scraped (with retries 10 s apart that was a race against its 10 s `for:`)
        "collector": {"default_interval": "10s", "default_timeout": "2s", "max_backoff": "2s"},
        "detect": {"interval": "5s"},
        "apps": apps,
    }
    path = tmp / "tapwatch.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_collector_alerts_reach_ops(tmp_path: Path) -> None:
    prometheus_bin = find_binary(PROMETHEUS_NAMES)
    alertmanager_bin = find_binary(ALERTMANAGER_NAMES)
    if prometheus_bin is None or alertmanager_bin is None:
        pytest.skip("prometheus / prometheus-alertmanager not installed (scripts/setup-test-deps)")
    loop = LoopThread()
    fleet = FakeFleet([FakeApp("healthy"), FakeApp("broken", mode="http_500")])
    webhook = WebhookReceiver()
    daemon: Daemon | None = None
    procs = []
    try:
        loop.run(fleet.start())
        webhook_port = loop.run(webhook.start())
        daemon = Daemon(_config(tmp_path, fleet))
        loop.run(daemon.start())
        am_port, prom_port = free_port(), free_port()
        (tmp_path / "am").mkdir()
        am = alertmanager_process(
            alertmanager_bin,
            tmp_path / "am",
            port=am_port,
            config=alertmanager_config(
                webhook_base=f"http://127.0.0.1:{webhook_port}/tapwatch",
                owners=(OWNER,),
                timing=E2E_TIMING,
            ),
        )
        am.start()
        procs.append(am)
        am.wait_ready(f"http://127.0.0.1:{am_port}/-/ready")
        rules = tmp_path / "rules.yaml"
        mixin = replace(E2E, tapwatch_url=f"http://127.0.0.1:{daemon.port}")
        rules.write_text(to_yaml({"groups": recording_groups() + alert_groups(mixin)}))
        (tmp_path / "prom").mkdir()
        prom = prometheus_process(
            prometheus_bin,
            tmp_path / "prom",
            port=prom_port,
            target=f"127.0.0.1:{daemon.port}",
            alertmanager=f"127.0.0.1:{am_port}",
            rule_files=[rules],
            interval_s=1.0,
        )
        prom.start()
        procs.append(prom)
        api = PrometheusAPI(f"http://127.0.0.1:{prom_port}")
        prom.wait_ready(f"http://127.0.0.1:{prom_port}/-/ready")

        note = webhook.wait_firing("TapwatchAppScrapeFailing", "broken", timeout=60)
        alert = note.firing("TapwatchAppScrapeFailing", "broken")[0]
        labels, ann = alert["labels"], alert["annotations"]
        assert note.path == "/tapwatch/ops"
        assert (labels["severity"], labels["component"], labels["owner"]) == (
            "warning", "collector", OWNER)
        assert "http_status" in ann["description"]  # the reason, counted
        assert "never" in ann["description"]  # it has never been polled successfully
        assert ann["runbook_url"].endswith("#tapwatchappscrapefailing")
        assert "var-app=broken" in ann["dashboard_url"]
        assert api.value('tapwatch_app_up{app="healthy"}') == 1
        assert webhook.first_firing("TapwatchAppScrapeFailing", "healthy") is None

        # the daemon goes away: Prometheus sees up == 0, and after `for:` says so
        stopped_at = time.monotonic()
        loop.run(daemon.stop())
        daemon = None
        down = webhook.wait_firing("TapwatchDown", after=stopped_at, timeout=60)
        assert down.firing("TapwatchDown")[0]["labels"]["severity"] == "critical"
        assert down.received_at - stopped_at >= 10  # its for: 10s held
    except Exception:
        for p in procs:
            print(p.log_tail())
        print(webhook.summary())
        raise
    finally:
        for p in reversed(procs):
            p.stop()
        if daemon is not None:
            loop.run(daemon.stop())
        loop.run(webhook.stop())
        loop.run(fleet.stop())
        loop.close()
