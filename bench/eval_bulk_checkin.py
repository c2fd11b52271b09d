"""Evaluate the bulk check-in detector on real organic check-ins with planted rings and
planted legitimate crowds.

Background: the Foursquare LBSN subset in /work/shared/data/foursquare-lbsn (real people
checking in at real venues). Planted, per seed:

* one-person rings of 3-40 phones, 1-15 s apart, phones within ~15 m, on 1-5 days, mostly
  (not always) on one network, sometimes one device model, reused photos, shared devices;
* hard negatives: meetings (20-60 people in 5-15 min, groups arriving together), daily
  colleagues (5-15 people every morning over 10-30 min), friends (2-4 arriving together,
  on 1-3 days) and transit peaks (100-200 people over 30 min at a hub).

Each seed runs twice: check-ins placed by grid cells (no declared points) and with the
venues as declared points (check-ins carry the venue code). Seeds 1-3 were used while
developing; seed 99 was held out and run only for the final figures.

    .venv/bin/python bench/eval_bulk_checkin.py [--seeds 1 2 3] [--holdout 99] [--write-doc]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.base import AppProfile, CheckinPoint, DetectorInput
from tapwatch.events import Event, EventType
from tapwatch.window import AccountDays, AppHours, EventWindow

DATA = Path("/work/shared/data/foursquare-lbsn")
DOC = Path(__file__).resolve().parent.parent / "docs" / "evaluation-bulk-checkin.md"
APP = "eval-app"
TZ = ZoneInfo("America/New_York")
TIME_FIX_S = 28_800.0  # the data's times are 8 h early (see its README)
SIZE_BUCKETS = ((3, 4), (5, 7), (8, 15), (16, 40))
NEGATIVE_KINDS = ("meeting", "colleagues", "friends", "transit")
# Device models and their shares, roughly the Chinese market mix.
MODELS = [
    ("HUAWEI Mate 60 Pro", 0.12),
    ("HUAWEI nova 12", 0.08),
    ("iPhone 15", 0.10),
    ("iPhone 14", 0.08),
    ("iPhone 13", 0.06),
    ("Xiaomi 14", 0.07),
    ("Redmi K70", 0.07),
    ("OPPO Reno11", 0.07),
    ("OPPO A2", 0.05),
    ("vivo X100", 0.06),
    ("vivo Y36", 0.06),
    ("HONOR 90", 0.06),
    ("HONOR X50", 0.05),
    ("realme GT5", 0.04),
    ("other", 0.03),
]
MODEL_NAMES = [m for m, _ in MODELS]
MODEL_P = np.array([p for _, p in MODELS]) / sum(p for _, p in MODELS)
M_PER_DEG_LAT = 110_574.0


@dataclass
class Truth:
    """What was planted: event id -> (kind, instance key); ring sizes per instance."""

    kind_of: dict[str, tuple[str, str]] = field(default_factory=dict)
    ring_size: dict[str, int] = field(default_factory=dict)
    instances: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


class World:
    """The organic background plus planted scenarios, as Events."""

    def __init__(self, seed: int, with_points: bool) -> None:
        self.rng = np.random.default_rng(seed)
        self.with_points = with_points
        self.events: list[Event] = []
        self.truth = Truth()
        ck = np.loadtxt(DATA / "Foursquare_checkins.txt")
        poi = np.loadtxt(DATA / "Foursquare_poi_coos.txt")
        self.venue_ll = {int(v): (la, lo) for v, la, lo in poi}
        self.users = np.unique(ck[:, 0]).astype(int)
        # Each user's home area: the median of their venues (people planted into a scene
        # are drawn from users living within 30 km, not teleported from another city).
        ll = np.array([self.venue_ll[int(v)] for v in ck[:, 1]])
        order = np.argsort(ck[:, 0], kind="stable")
        cut = np.flatnonzero(np.diff(ck[order, 0])) + 1
        self.user_home = np.array([np.median(part, axis=0) for part in np.split(ll[order], cut)])
        self.user_model = {int(u): self._model() for u in self.users}
        # Planted scenes happen at venues in proportion to their popularity (busy places).
        venues, counts = np.unique(ck[:, 1].astype(int), return_counts=True)
        self.venues, self.venue_p = venues, counts / counts.sum()
        self.t0, self.t1 = float(ck[:, 2].min()) + TIME_FIX_S, float(ck[:, 2].max()) + TIME_FIX_S
        self.user_day_net: dict[tuple[int, int], str] = {}
        self._organic(ck)

    # --- helpers ---------------------------------------------------------------------

    def _model(self) -> str:
        return MODEL_NAMES[int(self.rng.choice(len(MODEL_NAMES), p=MODEL_P))]

    def _accuracy(self, k: int = 1) -> np.ndarray:
        """Reported accuracy: lognormal around 12 m, 3-60 m."""
        return np.clip(self.rng.lognormal(math.log(12), 0.5, k), 3, 60)

    def _fix(self, lat: float, lon: float, dx: float, dy: float, acc: float) -> tuple[float, float]:
        """A phone fix at (dx, dy) metres from (lat, lon) with GPS noise matching acc (the
        68 % radius of a 2-D normal error, sigma = acc / 1.51)."""
        sx, sy = self.rng.normal(0, acc / 1.51, 2)
        m_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
        return lat + (dy + sy) / M_PER_DEG_LAT, lon + (dx + sx) / m_lon

    def _network(self, user: int, ts: float) -> str:
        """Organic: per user per day, home Wi-Fi or one of 64 mobile /24s per carrier."""
        day = int(ts // 86400)
        net = self.user_day_net.get((user, day))
        if net is None:
            if self.rng.random() < 0.4:
                net = f"home-{user}"
            else:
                net = f"mob-{int(self.rng.integers(3))}-{int(self.rng.integers(64))}"
            self.user_day_net[(user, day)] = net
        return net

    def _add(
        self,
        ts: float,
        account: str,
        lat: float,
        lon: float,
        acc: float,
        *,
        venue: int | None,
        device: str,
        model: str,
        network: str,
        photo: str | None = None,
        type: EventType = EventType.checkin,
        truth: tuple[str, str] | None = None,
    ) -> None:
        eid = f"e{len(self.events):07d}"
        self.events.append(
            Event(
                app=APP,
                id=eid,
                ts=ts,
                type=type,
                account=account,
                device=device,
                device_model=model,
                network=network,
                lat=lat,
                lon=lon,
                accuracy_m=acc,
                point=f"v{venue}" if self.with_points and venue is not None else None,
                photo_hash=photo or f"ph{eid}",
            )
        )
        if truth is not None:
            self.truth.kind_of[eid] = truth
            if truth[0] != "ring_context":  # far-away activity of ring accounts: not the ring
                self.truth.instances[truth[1]].add(eid)

    def _organic(self, ck: np.ndarray) -> None:
        accs = self._accuracy(ck.shape[0])
        for (u, v, t), a in zip(ck.tolist(), accs.tolist(), strict=True):
            u, v = int(u), int(v)
            la, lo = self.venue_ll[v]
            ts = t + TIME_FIX_S
            fla, flo = self._fix(la, lo, 0.0, 0.0, a)
            self._add(
                ts,
                f"u{u}",
                fla,
                flo,
                a,
                venue=v,
                device=f"d{u}",
                model=self.user_model[u],
                network=self._network(u, ts),
            )
        self.n_organic = len(self.events)

    def _people(
        self, n: int, tag: str, near: tuple[float, float]
    ) -> list[tuple[str, str, str, int | None]]:
        """(account, device, model, real user or None): half real Foursquare users living
        within 30 km of `near` (so they have organic activity around), half accounts seen
        only here."""
        la, lo = near
        dy = (self.user_home[:, 0] - la) * M_PER_DEG_LAT
        dx = (self.user_home[:, 1] - lo) * M_PER_DEG_LAT * math.cos(math.radians(la))
        local = self.users[np.hypot(dx, dy) < 30_000]
        out = []
        for i in range(n):
            if local.size and self.rng.random() < 0.5:
                u = int(self.rng.choice(local))
                out.append((f"u{u}", f"d{u}", self.user_model[u], u))
            else:
                out.append((f"{tag}-{i}", f"{tag}-d{i}", self._model(), None))
        return out

    def _scene(self) -> tuple[int, float, float, float]:
        """A venue and a local day start (epoch seconds of a day in the data's span)."""
        v = int(self.rng.choice(self.venues, p=self.venue_p))
        la, lo = self.venue_ll[v]
        day = self.t0 + float(self.rng.uniform(0, self.t1 - self.t0 - 6 * 86400))
        day -= day % 86400
        return v, la, lo, day

    # --- planted scenes --------------------------------------------------------------

    def ring(self, idx: int, size: int) -> None:
        """One person carrying `size` phones, checking each in at a steady rhythm."""
        rng = self.rng
        key = f"ring{idx}"
        v, la, lo, day = self._scene()
        people = self._people(size, key, (la, lo))
        shared_dev = rng.random() < 0.1  # accounts switched on fewer phones
        if shared_dev:
            phones = max(1, size // 2)
            people = [(a, f"{key}-ph{i % phones}", m, u) for i, (a, d, m, u) in enumerate(people)]
        one_model = rng.random() < 0.5
        model = self._model()
        net_shared = rng.random() < 0.75
        photo_reuse = rng.random() < 0.3
        uniform_gaps = rng.random() < 0.3
        base_gap = float(rng.uniform(2, 10))
        spot = rng.uniform(-15, 15, 2)
        hour = float(rng.uniform(7, 20)) * 3600
        elsewhere = rng.random() < 0.2
        for d in range(int(rng.integers(1, 6))):
            inst = f"{key}/day{d}"
            self.truth.ring_size[inst] = size
            t = day + d * 86400 + hour + float(rng.normal(0, 900))
            order = rng.permutation(size)
            present = [people[i] for i in order if rng.random() < 0.95] or [people[order[0]]]
            if uniform_gaps:
                gaps = rng.uniform(1, 15, len(present))
            else:
                gaps = np.clip(base_gap * rng.lognormal(0, 0.35, len(present)), 1, 15)
            photo = f"{key}-photo{d}" if photo_reuse else None
            for (acc, dev, m, _u), g in zip(present, gaps.tolist(), strict=True):
                a = float(self._accuracy()[0])
                dx, dy = spot + rng.normal(0, 3, 2)
                fla, flo = self._fix(la, lo, dx, dy, a)
                net = (
                    f"{key}-hotspot"
                    if net_shared
                    else f"mob-{int(rng.integers(3))}-{int(rng.integers(64))}"
                )
                self._add(
                    t,
                    acc,
                    fla,
                    flo,
                    a,
                    venue=v,
                    device=dev,
                    model=model if one_model else m,
                    network=net,
                    photo=photo,
                    truth=("ring", inst),
                )
                t += g
            if elsewhere:
                # The officials themselves, reading the app on their own phones at home or
                # at work 3-15 km away, within a few minutes of "their" check-in.
                for acc, _dev, m, _u in present[: int(rng.integers(1, 4))]:
                    far = rng.uniform(3000, 15000) * np.array([1, -1])[rng.integers(2)]
                    fla, flo = self._fix(la, lo, far, far / 2, 10.0)
                    self._add(
                        t + float(rng.uniform(-300, 300)),
                        acc,
                        fla,
                        flo,
                        10.0,
                        venue=None,
                        device=f"own-{acc}",
                        model=m,
                        network=f"home-{acc}",
                        type=EventType.read,
                        truth=("ring_context", inst),
                    )

    def crowd(
        self,
        kind: str,
        key: str,
        people: list[tuple[str, str, str, int | None]],
        *,
        v: int,
        la: float,
        lo: float,
        start: float,
        duration: float,
        radius: float,
        together: float,
        wifi: str | None,
        wifi_share: float,
    ) -> None:
        """People arriving independently within `duration` and `radius` metres; a share
        `together` arrives within a second of the one before (walking in as a group)."""
        rng = self.rng
        times = np.sort(rng.uniform(0, duration, len(people)))
        for i in range(1, len(times)):
            if rng.random() < together:
                times[i] = times[i - 1] + float(rng.uniform(0, 1.0))
        for (acc, dev, m, u), dt in zip(people, times.tolist(), strict=True):
            r = radius * math.sqrt(rng.random())
            th = rng.uniform(0, 2 * math.pi)
            a = float(self._accuracy()[0])
            fla, flo = self._fix(la, lo, r * math.cos(th), r * math.sin(th), a)
            ts = start + dt
            if wifi and rng.random() < wifi_share:
                net = wifi
            elif u is not None:
                net = self._network(u, ts)
            else:
                net = f"mob-{int(rng.integers(3))}-{int(rng.integers(64))}"
            self._add(
                ts, acc, fla, flo, a, venue=v, device=dev, model=m, network=net, truth=(kind, key)
            )

    def meeting(self, idx: int) -> None:
        v, la, lo, day = self._scene()
        people = self._people(int(self.rng.integers(20, 61)), f"meet{idx}", (la, lo))
        start = day + float(self.rng.uniform(8, 18)) * 3600
        for d in range(int(self.rng.integers(1, 3))):  # some meetings are weekly
            self.crowd(
                "meeting",
                f"meet{idx}/day{d}",
                people,
                v=v,
                la=la,
                lo=lo,
                start=start + d * 7 * 86400,
                duration=float(self.rng.uniform(300, 900)),
                radius=float(self.rng.uniform(10, 25)),
                together=0.3,
                wifi=f"meet{idx}-wifi",
                wifi_share=0.5,
            )

    def colleagues(self, idx: int) -> None:
        v, la, lo, day = self._scene()
        people = self._people(int(self.rng.integers(5, 16)), f"office{idx}", (la, lo))
        radius = float(self.rng.uniform(10, 30))
        for d in range(5):
            self.crowd(
                "colleagues",
                f"office{idx}/day{d}",
                people,
                v=v,
                la=la,
                lo=lo,
                start=day + d * 86400 + 8.3 * 3600 + float(self.rng.normal(0, 300)),
                duration=float(self.rng.uniform(600, 1800)),
                radius=radius,
                together=0.05,
                wifi=f"office{idx}-wifi",
                wifi_share=0.8,
            )

    def friends(self, idx: int) -> None:
        v, la, lo, day = self._scene()
        people = self._people(int(self.rng.integers(2, 5)), f"friends{idx}", (la, lo))
        hour = float(self.rng.uniform(11, 22)) * 3600
        for d in range(int(self.rng.integers(1, 4))):
            self.crowd(
                "friends",
                f"friends{idx}/day{d}",
                people,
                v=v,
                la=la,
                lo=lo,
                start=day + d * 7 * 86400 + hour,
                duration=float(self.rng.uniform(5, 90)),
                radius=5.0,
                together=0.3,
                wifi=f"cafe{idx}-wifi",
                wifi_share=0.3,
            )

    def transit(self, idx: int) -> None:
        v, la, lo, day = self._scene()
        regulars = self._people(60, f"hub{idx}-reg", (la, lo))
        for d in range(3):
            people = regulars + self._people(
                int(self.rng.integers(50, 141)), f"hub{idx}-{d}", (la, lo)
            )
            self.crowd(
                "transit",
                f"hub{idx}/day{d}",
                people,
                v=v,
                la=la,
                lo=lo,
                start=day + d * 86400 + 7.5 * 3600,
                duration=1800.0,
                radius=float(self.rng.uniform(50, 150)),
                together=0.15,
                wifi=f"hub{idx}-wifi",
                wifi_share=0.2,
            )


@dataclass
class Result:
    name: str
    n_organic: int
    organic_flagged: int
    flagged: int
    ring_flagged: int
    ring_events: int
    recall: dict[tuple[int, int], tuple[int, int]]  # bucket -> (detected, total) ring-days
    negatives: dict[str, tuple[int, int]]  # kind -> (flagged, total) instances
    findings: int
    seconds: float


def bucket_of(size: int) -> tuple[int, int]:
    return next(b for b in SIZE_BUCKETS if b[0] <= size <= b[1])


def run(
    seed: int, with_points: bool, settings: bulk_checkin.Settings, accuracy: bool = True
) -> Result:
    w = World(seed, with_points)
    for i in range(160):
        size = int(w.rng.integers(*[(3, 5), (5, 8), (8, 16), (16, 41)][i % 4]))
        w.ring(i, size)
    for i in range(150):
        w.meeting(i)
    for i in range(60):
        w.colleagues(i)
    for i in range(300):
        w.friends(i)
    for i in range(40):
        w.transit(i)
    if not accuracy:  # an app that reports no accuracy: the fixes are as noisy, unlabelled
        w.events = [msgspec.structs.replace(e, accuracy_m=None) for e in w.events]
    win = EventWindow.from_events(APP, w.events)
    points: tuple[CheckinPoint, ...] = ()
    if with_points:
        points = tuple(
            CheckinPoint(id=f"v{v}", lat=la, lon=lo, radius_m=50.0)
            for v, (la, lo) in sorted(w.venue_ll.items())
        )
    inp = DetectorInput(
        app=AppProfile(id=APP, points=points, timezone=TZ),
        now=float(win.ts[-1]) + 60,
        events=win,
        account_days=AccountDays.from_rows([], []),
        app_hours=AppHours.from_rows([]),
    )
    t = time.perf_counter()
    findings = bulk_checkin.detect(inp, settings)
    secs = time.perf_counter() - t
    flagged = {i for f in findings for i in f.evidence["event_ids"]}
    kind_of = w.truth.kind_of
    ring_events = {e for e, (k, _) in kind_of.items() if k == "ring"}
    organic_flagged = sum(1 for e in flagged if e not in kind_of)
    recall: dict[tuple[int, int], list[int]] = {b: [0, 0] for b in SIZE_BUCKETS}
    negatives = {k: [0, 0] for k in NEGATIVE_KINDS}
    for inst, ids in w.truth.instances.items():
        kind = kind_of[next(iter(ids))][0]
        if kind == "ring":
            b = recall[bucket_of(w.truth.ring_size[inst])]
            b[1] += 1
            b[0] += len(ids & flagged) >= 0.5 * len(ids)
        elif kind in negatives:
            negatives[kind][1] += 1
            negatives[kind][0] += bool(ids & flagged)
    return Result(
        name=f"seed {seed}, {'declared points' if with_points else 'grid cells'}",
        n_organic=w.n_organic,
        organic_flagged=organic_flagged,
        flagged=len(flagged),
        ring_flagged=len(flagged & ring_events),
        ring_events=len(ring_events),
        recall={k: (v[0], v[1]) for k, v in recall.items()},
        negatives={k: (v[0], v[1]) for k, v in negatives.items()},
        findings=len(findings),
        seconds=secs,
    )


def table(results: list[Result], title: str) -> str:
    """A markdown table, one row per run, plus a pooled row."""
    head = (
        "| run | precision (check-ins) | recall 3-4 | recall 5-7 | recall 8-15 | recall 16-40 "
        "| organic flagged /100k | meetings | colleagues | friends | transit | findings |"
    )
    lines = [f"**{title}**", "", head, "|" + "---|" * 12]

    def row(name: str, rs: list[Result]) -> str:
        flagged = sum(r.flagged for r in rs)
        prec = sum(r.ring_flagged for r in rs) / flagged if flagged else float("nan")
        cells = [name, f"{prec:.3f}"]
        for b in SIZE_BUCKETS:
            det = sum(r.recall[b][0] for r in rs)
            tot = sum(r.recall[b][1] for r in rs)
            cells.append(f"{det / tot:.3f} ({det}/{tot})")
        org = sum(r.organic_flagged for r in rs) / sum(r.n_organic for r in rs) * 1e5
        cells.append(f"{org:.1f}")
        for k in NEGATIVE_KINDS:
            fl = sum(r.negatives[k][0] for r in rs)
            tot = sum(r.negatives[k][1] for r in rs)
            cells.append(f"{fl / tot:.1%} ({fl}/{tot})")
        cells.append(str(sum(r.findings for r in rs)))
        return "| " + " | ".join(cells) + " |"

    for r in results:
        lines.append(row(r.name, [r]))
    if len(results) > 1:
        lines.append(row("**pooled**", results))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument("--holdout", type=int, nargs="*", default=[])
    ap.add_argument("--write-doc", action="store_true", help="rewrite the doc's results")
    ap.add_argument("--settings", default="{}", help="detector settings as JSON (to compare)")
    ap.add_argument(
        "--no-accuracy",
        action="store_true",
        help="strip accuracy_m from every fix (an app that does not report it)",
    )
    args = ap.parse_args()
    settings = bulk_checkin.Settings(**json.loads(args.settings))
    sections = []
    for label, seeds in (("Development seeds", args.seeds), ("Held-out seed", args.holdout)):
        if not seeds:
            continue
        results = []
        for seed in seeds:
            for with_points in (False, True):
                r = run(seed, with_points, settings, accuracy=not args.no_accuracy)
                results.append(r)
                print(f"{r.name}: detect {r.seconds:.2f} s, {r.findings} findings", flush=True)
        sections.append(table(results, f"{label} ({', '.join(map(str, seeds))})"))
    text = "\n\n".join(sections)
    print()
    print(text)
    if args.write_doc:
        doc = DOC.read_text()
        a, b = "<!-- results:start -->", "<!-- results:end -->"
        pre, rest = doc.split(a, 1)
        _, post = rest.split(b, 1)
        DOC.write_text(f"{pre}{a}\n{text}\n{b}{post}")
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
