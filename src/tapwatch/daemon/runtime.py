"""The daemon: lifecycle, reload, the detect loop and the /metrics snapshot.

Start: load config (or fail naming every error), open the store, start one poller per app
of this shard, the detect loop, the metrics renderer and the HTTP server.
Reload (SIGHUP or POST /-/reload): validate the new config off the loop; on success swap
it atomically, start pollers of new apps, stop those of removed apps (their series go),
restart pollers whose registry entry changed; on failure keep the last good config.
store.dedup_memory applies on reload (the store's writer thread takes the new bound); the
rest of `store`, `pseudonymisation` and `server` only on restart (logged, key by key).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from tapwatch.config import (
    AppConfig,
    Config,
    ConfigError,
    load_config,
)
from tapwatch.daemon.auth import Authenticator
from tapwatch.daemon.detect_worker import InputCache, fold, run_detect_pass, watch_parent
from tapwatch.daemon.preflight import startup_problems, with_web_config
from tapwatch.daemon.scheduler import AppPoller, AppState
from tapwatch.daemon.server import start_server
from tapwatch.daemon.store_health import StoreHealth
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.daemon.views import AuthenticatorLogins
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.detectors.engine import FleetResult
from tapwatch.exporters.metrics import MetricsRenderer
from tapwatch.exporters.scrape import MetricsPage
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.sources.registry import CredentialPool, build_source
from tapwatch.store.dedup_tiers import DedupSize
from tapwatch.store.health import StoreError

log = logging.getLogger("tapwatch.daemon")


def shard_of(app_id: str, total_shards: int) -> int:
    """Stable shard of an app: sha256 of its id (never Python's salted hash())."""
    digest = hashlib.sha256(app_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % total_shards


@dataclass
class ReloadStatus:
    successful: bool = True
    last_success: float = 0.0
    last_error: str | None = None
    generation: int = 0  # bumped by every successful reload


@dataclass
class DetectState:
    """The latest detector pass (read by /metrics and the findings API)."""

    result: FleetResult | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    active_accounts: dict[str, dict[str, int]] | None = None  # app -> window -> n
    snapshots: dict[str, UsageSnapshot] | None = None  # app -> last snapshot
    finding_totals: dict[tuple[str, str, str], int] | None = None
    open_by_kind: dict[tuple[str, str], int] | None = None
    raw_events: int = 0
    version: int = 0  # bumped after every pass
    #: detector runs that raised, by detector kind, since start
    failures: Counter[str] = field(default_factory=Counter)
    #: (kind, app) -> error of the detectors failing in the last pass (logged once)
    failing: dict[tuple[str, str | None], str] = field(default_factory=dict)

class Daemon:
    def __init__(
        self,
        config_path: Path,
        *,
        shard: int = 0,
        total_shards: int = 1,
        listen: str | None = None,
        web_config_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= shard < total_shards:
            raise ValueError(f"--shard must be in [0, {total_shards})")
        self.config_path = config_path
        self.shard = shard
        self.total_shards = total_shards
        self.listen_override = listen
        self.clock = clock
        self.web_config_file = web_config_file
        self._mine: dict[int, tuple[Config, list[AppConfig]]] = {}
        self.config: Config = self._with_overrides(load_config(config_path))  # ConfigError
        problems = startup_problems(self.config, web_config_file)  # what check-config says
        if problems:
            raise ConfigError(problems)
        self.reload_status = ReloadStatus(successful=True, last_success=clock())
        self.states: dict[str, AppState] = {}
        self.pollers: dict[str, AppPoller] = {}
        self.detect = DetectState()
        self.loop_lag = 0.0
        self.ready = False
        self.started_at = clock()
        self.metrics_page = MetricsPage()
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()
        self._detect_lock = asyncio.Lock()
        self._detect_pool: ProcessPoolExecutor | None = None
        self._input_cache = InputCache()  # used when detection runs in this process
        self._renderer = MetricsRenderer()
        #: platform credentials (tokens, call-rate limiters), kept across reloads
        self.credentials = CredentialPool()
        self.store: AsyncStore
        self.session: aiohttp.ClientSession
        self.pseudonymizer: Pseudonymizer
        self.auth: Authenticator
        self.port: int | None = None
        self._started = contextlib.AsyncExitStack()  # what stop() closes, last first

    def _with_overrides(self, cfg: Config) -> Config:
        """Apply command-line overrides to a freshly loaded config."""
        return with_web_config(cfg, self.web_config_file)

    # ---- apps of this shard ------------------------------------------------------

    def my_apps(self, config: Config | None = None) -> list[AppConfig]:
        """The apps of this shard (kept per config: renders and passes ask often)."""
        cfg = config or self.config
        cached = self._mine.get(id(cfg))
        if cached is not None and cached[0] is cfg:
            return cached[1]
        mine = [
            a.config
            for a in cfg.apps
            if shard_of(a.config.id, self.total_shards) == self.shard
        ]
        self._mine = {id(cfg): (cfg, mine)}
        return mine

    def _poller(self, app: AppConfig) -> AppPoller:
        interval = app.source.interval or self.config.daemon.collector.default_interval
        state = self.states.get(app.id)
        if state is None:
            state = self.states[app.id] = AppState(interval=interval)
        state.interval = interval
        return AppPoller(
            app,
            build_source(app.source, points=app.points, credentials=self.credentials),
            store=self.store,
            session=self.session,
            pseudonymizer=self.pseudonymizer,
            collector=self.config.daemon.collector,
            rollup_retention=self.config.daemon.store.rollup_retention,
            state=state,
            on_cycle=self._dirty.set,
            clock=self.clock,
            rng=random.Random(),
        )

    # ---- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Start everything; if any part fails, stop what had started and raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        d = self.config.daemon
        self.pseudonymizer = Pseudonymizer(load_key(d.pseudonymisation.key_file))
        self.auth = Authenticator(
            d.server.users_file, d.server.web_config_file, on_change=self._dirty.set
        )
        self._started.callback(self.auth.close)
        self.store = AsyncStore(
            d.store.path, on_health_change=self._dirty.set, clock=self.clock,
            dedup_memory=d.store.dedup_memory,
        )
        self._started.callback(self.store.close)
        self._started.push_async_callback(self._fold_before_closing)
        await self._restore_counters()
        connector = aiohttp.TCPConnector(limit=d.collector.max_connections, limit_per_host=8)
        self.session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": f"tapwatch/{_version()}", "Accept": "application/json"},
            auto_decompress=True,
        )
        self._started.push_async_callback(self.session.close)
        for app in self.my_apps():
            p = self.pollers[app.id] = self._poller(app)
            p.start()
        self._tasks = [
            asyncio.create_task(self._detect_loop(), name="detect"),
            asyncio.create_task(self._render_loop(), name="render-metrics"),
            asyncio.create_task(self._lag_loop(), name="loop-lag"),
            asyncio.create_task(self._prune_loop(), name="prune"),
        ]
        listen = self.listen_override or d.server.listen
        listener = await start_server(self, listen)
        self._started.push_async_callback(listener.close)
        self.port = listener.port
        await self.render_metrics()
        self.ready = True
        log.info(
            "tapwatch %s serving on %s; %d apps in shard %d/%d",
            _version(),
            f"{listen.rpartition(':')[0]}:{self.port}",
            len(self.pollers),
            self.shard,
            self.total_shards,
        )

    async def _restore_counters(self) -> None:
        """Counters continue across restarts: they are persisted with the events."""

        def read() -> dict[str, dict[tuple[str, str], float]]:
            return {a.id: self.store.writer.counters(a.id) for a in self.my_apps()}

        for app_id, counts in (await self.store.write(read)).items():
            interval = self.config.app(app_id).source.interval
            st = self.states.setdefault(
                app_id,
                AppState(interval=interval or self.config.daemon.collector.default_interval),
            )
            by_name = {"ingested": st.ingested, "rejected": st.rejected, "skipped": st.skipped}
            for (name, label), v in counts.items():
                if name in by_name:
                    by_name[name][label] = int(v)

    async def stop(self) -> None:
        """Stop what has started (also after a start that failed half-way)."""
        self.ready = False
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks = []
        await asyncio.gather(*(p.stop() for p in self.pollers.values()))
        self.pollers.clear()
        if self._detect_pool is not None:
            self._detect_pool.shutdown(wait=True, cancel_futures=True)
            self._detect_pool = None
        await self._started.aclose()  # the server, the HTTP client, the store, the checker

    async def _fold_before_closing(self) -> None:
        """What was ingested since the last pass goes into the rollups before we go (if
        the store refuses, the first pass after the next start folds it)."""
        try:
            await self.store.write(fold, self.store.writer, self.config)
        except Exception as e:
            log.warning("could not fold the last batches into the rollups: %s", e)

    async def run_forever(self) -> None:
        """Run until SIGTERM/SIGINT; SIGHUP reloads."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload()))
        await self.start()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await self.stop()

    # ---- reload ------------------------------------------------------------------

    async def reload(self) -> tuple[bool, list[str]]:
        """Validate and swap the config; keep the last good one on failure."""
        async with self._reload_lock:
            try:
                new = self._with_overrides(await asyncio.to_thread(load_config, self.config_path))
            except ConfigError as e:
                self.reload_status.successful = False
                self.reload_status.last_error = str(e)
                log.error("reload failed, keeping the last good config:\n%s", e)
                self._dirty.set()
                return False, e.errors
            old = self.config
            for key in _restart_only_changes(old, new):
                log.warning("reload: %s changes only on restart; the running value is kept", key)
            store = old.daemon.store.model_copy(
                update={"dedup_memory": await self._resize_dedup(old, new)}
            )
            new = Config(
                path=new.path,
                daemon=new.daemon.model_copy(
                    update={
                        "store": store,
                        "pseudonymisation": old.daemon.pseudonymisation,
                        "server": old.daemon.server,
                    }
                ),
                apps=new.apps,
                files=new.files,
            )
            old_apps = {a.id: a for a in self.my_apps(old)}
            new_apps = {a.id: a for a in self.my_apps(new)}
            collector_changed = old.daemon.collector != new.daemon.collector
            self.config = new
            for app_id in old_apps.keys() - new_apps.keys():
                await self.pollers.pop(app_id).stop()
                self.states.pop(app_id, None)  # its series disappear from /metrics
            for app_id, app in new_apps.items():
                if app_id in old_apps and old_apps[app_id] == app and not collector_changed:
                    continue
                if app_id in self.pollers:
                    await self.pollers.pop(app_id).stop()
                p = self.pollers[app_id] = self._poller(app)
                p.start()
            self.reload_status.successful = True
            self.reload_status.last_success = self.clock()
            self.reload_status.generation += 1
            self.reload_status.last_error = None
            log.info(
                "config reloaded: %d apps (%+d)", len(new_apps), len(new_apps) - len(old_apps)
            )
            self._dirty.set()
            return True, []

    async def _resize_dedup(self, old: Config, new: Config) -> int:
        """store.dedup_memory in effect after a reload: the new one, applied on the store's
        writer thread (a smaller one reached at once), or the old one if the store cannot
        be written now (said in the log; the next reload tries again)."""
        was, wanted = old.daemon.store.dedup_memory, new.daemon.store.dedup_memory
        if wanted == was:
            return was
        try:
            size = await self.store.write(self.store.writer.resize_dedup, wanted)
        except StoreError as e:
            log.warning(
                "reload: store.dedup_memory stays %s: the store cannot be written (%s); "
                "reload again once it can", _mib(was), e,
            )
            return was
        log.info(
            "reload: store.dedup_memory %s -> %s (de-duplication holds %s)",
            _mib(was), _mib(wanted), _mib(size.memory_tier_bytes + size.filter_bytes),
        )
        return wanted

    # ---- detection ---------------------------------------------------------------

    async def _detect_loop(self) -> None:
        await asyncio.sleep(min(5.0, self.config.daemon.detect.interval))
        while True:
            try:
                await self.detect_once()
            except asyncio.CancelledError:
                raise
            except BrokenProcessPool:
                log.error("the detector worker process died; the next pass starts a new one")
            except StoreError:
                pass  # the store's health has said so; passes skip until it recovers
            except Exception:
                log.exception("detector pass failed; the next one will retry")
            await asyncio.sleep(self.config.daemon.detect.interval)

    async def detect_once(self) -> None:
        """One detector pass over this shard's apps, findings stored, metrics marked."""
        async with self._detect_lock:
            if not self.store.health.healthy:
                return  # findings could not be stored, and no new data arrives meanwhile
            t0 = time.perf_counter()
            now = self.clock()
            # an app still fetching its history would be judged on part of it: wait
            apps = [a for a in self.my_apps() if self._judgeable(a.id)]
            config = self.config
            if config.daemon.detect.worker_process:
                if self._detect_pool is None:
                    self._detect_pool = ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn"),
                        initializer=watch_parent,
                    )
                try:
                    p = await self.store.elsewhere(
                        self._detect_pool, run_detect_pass, self.store.path, apps, config, now
                    )
                except BrokenProcessPool:
                    # the worker died (killed, out of memory): the next pass starts another
                    self._detect_pool.shutdown(wait=False)
                    self._detect_pool = None
                    raise
            else:
                p = await self.store.read(
                    run_detect_pass, self.store.reader, apps, config, now, self._input_cache
                )
            result = p.result
            self._log_failures(result.failures)
            w = self.store.writer
            new = await self.store.write(w.upsert_findings, result.findings, now)
            seen = {f.id for f in result.findings}
            await self.store.write(w.resolve_absent_findings, [a.id for a in apps], seen, now)
            for f in new:
                log.info("new finding %s %s on app %s: %s", f.kind, f.id, f.app, f.summary)
            r = self.store.reader
            self.detect.finding_totals = await self.store.read(r.finding_totals)
            self.detect.open_by_kind = await self.store.read(r.open_findings_by_kind)
            self.detect.raw_events = await self.store.read(r.raw_event_count)
            self.detect.active_accounts = p.active_accounts
            self.detect.snapshots = p.snapshots
            self.detect.result = result
            self.detect.finished_at = self.clock()
            self.detect.duration_s = time.perf_counter() - t0
            self.detect.version += 1
            self._dirty.set()

    def _log_failures(self, failures: list[Any]) -> None:
        """Count every detector failure; log when a detector starts failing on an app (or
        fails otherwise) and when it works again, not on every pass."""
        now: dict[tuple[str, str | None], str] = {}
        for f in failures:
            self.detect.failures[f.kind] += 1
            now[(f.kind, f.app)] = f.error
            if self.detect.failing.get((f.kind, f.app)) != f.error:
                where = f"on app {f.app}" if f.app else "across the fleet"
                log.error("detector %s failing %s: %s", f.kind, where, f.error)
        for kind, app in self.detect.failing.keys() - now.keys():
            log.info("detector %s works again %s", kind, f"on app {app}" if app else "")
        self.detect.failing = now

    def _judgeable(self, app_id: str) -> bool:
        st = self.states.get(app_id)
        return st is not None and (st.caught_up or st.up == 0)

    # ---- metrics snapshot --------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        """The daemon's local time zone (`detect.timezone`)."""
        return ZoneInfo(self.config.daemon.detect.timezone)

    def logins(self) -> AuthenticatorLogins:
        """What /metrics reads of the logins."""
        return AuthenticatorLogins(self.auth)

    @property
    def store_health(self) -> StoreHealth:
        """The store's health, as /metrics reads it."""
        return self.store.health

    def store_size_bytes(self) -> int:
        """Bytes on disk of the store (database and write-ahead log)."""
        return self.store.writer.size_bytes()

    def dedup_size(self) -> DedupSize:
        """De-duplication's memory, tiers and disk lookups (the writer's)."""
        return self.store.writer.dedup_size()

    async def render_metrics(self) -> float:
        """Re-render /metrics now; returns how long it took."""
        t0 = time.perf_counter()
        self.metrics_page = MetricsPage(self._renderer.render(self))
        return time.perf_counter() - t0

    @property
    def metrics_body(self) -> bytes:
        """The last render in the text format."""
        return self.metrics_page.text

    async def _render_loop(self) -> None:
        """Re-render /metrics after ingest or detect cycles: at most once a second, and
        never more than a fifth of the time (renders run on the event loop)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            took = await self.render_metrics()
            await asyncio.sleep(max(1.0, 4 * took))

    async def _lag_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.5)
            self.loop_lag = max(0.0, loop.time() - t - 0.5)

    async def _prune_loop(self) -> None:
        s = self.config.daemon.store
        while True:
            await asyncio.sleep(s.prune_interval)
            try:
                n = await self.store.write(
                    self.store.writer.prune, self.clock(), s.raw_retention, s.rollup_retention
                )
            except StoreError:
                continue  # the store's health has said so; the next round prunes
            if any(n.values()):
                log.info("pruned %s", n)


#: config sections read at start only, but for the keys a reload applies
_RESTART_ONLY = ("store", "pseudonymisation", "server")
_RELOADED = {"store": {"dedup_memory"}}


def _restart_only_changes(old: Config, new: Config) -> list[str]:
    """The changed keys (`section.key`) a reload cannot apply."""
    changed = []
    for section in _RESTART_ONLY:
        was, now = getattr(old.daemon, section), getattr(new.daemon, section)
        for key in type(was).model_fields:
            if key not in _RELOADED.get(section, ()) and getattr(was, key) != getattr(now, key):
                changed.append(f"{section}.{key}")
    return changed


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _version() -> str:
    from tapwatch import __version__

    return __version__
