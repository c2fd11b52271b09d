"""Calibration cases for the shutdown assessment, built from the background (the 2023
Opinions' press reports and the 2026 Measures), not from the simulator's scenarios.

Each case is a story about one app over a year: who it is meant for, how many of them use
it for real work each day, what it costs, how it is maintained, which band it deserves and
why. A small generator turns the story into the rollups the daemon would hold (400 days
of app-level history, 120 days of per-account rows, the app's own usage figures), with
day-to-day noise from a seeded generator. Cases are judged together with a background of
ordinary apps that sets the fleet's median cost per organic user (a few hundred CNY: 100k
to 1M+ CNY a year for hundreds to thousands of real users).

    .venv/bin/python bench/assessment_cases.py [--seed 1]   # the table of docs/detectors.md
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from tapwatch.detectors.assessment import Assessment, Settings, assess_fleet
from tapwatch.detectors.base import AppProfile, DailyUsage, DetectorInput, UsageSnapshot
from tapwatch.window import DAY, AccountDays, AppHours, EventWindow, local_day_of

TZ = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 20)
NOW = datetime.combine(TODAY, time(15, 0), tzinfo=TZ).timestamp()
HORIZON_DAYS = 400  # the store's rollup retention
ROLLUP_DAYS = 120  # per-account rows the detectors get
REGION = "Calibration District"


@dataclass
class Story:
    """How one app is used, day by day, over the horizon.

    `use(days_ago)` is the probability that one of the app's real users does real work in
    it on that day (form, appointment, other action), before the weekday effect;
    `real_users` of the `intended` accounts are ever real users. `forced` accounts only
    check in or read (never meaningful) with probability `forced_p` a day.
    """

    app: str
    intended: int
    real_users: int
    use: Callable[[int], float]
    cost: float | None
    release_days_ago: float = 20.0
    content_days_ago: float = 3.0
    launched_days_ago: int = 1500
    features: tuple[str, ...] = ("forms",)
    category: str = "general"
    forced: int = 0
    forced_p: float = 0.0
    season_months: frozenset[int] | None = None
    exempt: bool = False
    actions_per_day: float = 2.0
    #: the first `shared_with[1]` real users are the raw accounts of app `shared_with[0]`
    shared_with: tuple[str, int] | None = None
    weekends: bool = False


@dataclass
class Case:
    name: str
    story: str  # what the case is, in one sentence
    expected: str  # the band it deserves
    why: str  # why, from the background
    app: Story
    siblings: list[Story] = field(default_factory=list)  # apps it is judged beside


def _day(days_ago: int) -> int:
    return local_day_of(NOW, TZ) - days_ago


def _accounts(s: Story, stories: dict[str, Story]) -> list[str]:
    names = [f"{s.app}-u{i}" for i in range(s.real_users)]
    if s.shared_with is not None:
        other, n = s.shared_with
        names[:n] = [f"{other}-u{i}" for i in range(n)]
    return names


def build_input(s: Story, rng: np.random.Generator, stories: dict[str, Story]) -> DetectorInput:
    """The rollups the daemon would hold for the story at NOW."""
    launched = TODAY - timedelta(days=s.launched_days_ago)
    first = max(0, min(HORIZON_DAYS, s.launched_days_ago))
    real = _accounts(s, stories)
    forced = [f"{s.app}-f{i}" for i in range(s.forced)]
    names = real + forced
    # Each real user's own propensity (some use it daily, some weekly): mean 1.
    propensity = rng.gamma(2.0, 0.5, size=len(real))
    day_col, acc_col, mean_col, chk_col, ev_col = [], [], [], [], []
    for back in range(first, 0, -1):
        d = _day(back)
        weekday = (TODAY - timedelta(days=back)).weekday()
        factor = 1.0 if weekday < 5 or s.weekends else 0.08
        p = np.clip(s.use(back) * factor * propensity, 0.0, 1.0)
        who = np.flatnonzero(rng.random(len(real)) < p)
        n_act = 1 + rng.poisson(s.actions_per_day - 1, size=who.size)
        if forced:
            fw = np.flatnonzero(rng.random(len(forced)) < s.forced_p * factor) + len(real)
        else:
            fw = np.zeros(0, dtype=np.int64)
        day_col += [d] * (who.size + fw.size)
        acc_col += who.tolist() + fw.tolist()
        mean_col += n_act.tolist() + [0] * fw.size
        chk_col += [0] * who.size + [1] * fw.size
        ev_col += (n_act + 2).tolist() + [3] * fw.size  # sessions around the work
    n = len(day_col)
    zeros = np.zeros(n, dtype=np.int32)
    all_days = AccountDays(
        day=np.array(day_col, dtype=np.int32),
        account=np.array(acc_col, dtype=np.int32),
        events=np.array(ev_col, dtype=np.int32),
        meaningful=np.array(mean_col, dtype=np.int32),
        checkin=np.array(chk_col, dtype=np.int32),
        read=zeros.copy(),
        like=zeros.copy(),
        study=zeros.copy(),
        session=np.ones(n, dtype=np.int32),
        study_s=np.zeros(n, dtype=np.float32),
        first_s=np.full(n, 9 * 3600.0, dtype=np.float32),
        last_s=np.full(n, 17 * 3600.0, dtype=np.float32),
        accounts=names,
    )
    recent = all_days.select(all_days.day > _day(ROLLUP_DAYS + 1))
    profile = AppProfile(
        id=s.app,
        name=s.app,
        region=REGION,
        category=s.category,
        launched=launched,
        annual_cost_cny=s.cost,
        intended_users=s.intended,
        declared_features=frozenset(s.features),
        exempt=s.exempt,
        timezone=TZ,
        season_months=s.season_months,
    )
    return DetectorInput(
        app=profile,
        now=NOW,
        events=EventWindow.from_events(s.app, []),
        account_days=recent,
        app_hours=AppHours.from_rows([]),
        snapshot=UsageSnapshot(
            at=NOW,
            registered_accounts=s.intended,
            last_release_at=NOW - s.release_days_ago * DAY,
            last_content_update_at=NOW - s.content_days_ago * DAY,
        ),
        data_since=NOW - first * DAY,
        history=DailyUsage.from_account_days(all_days),
    )


def _flat(p: float) -> Callable[[int], float]:
    return lambda _back: p


def background() -> list[Story]:
    """Ordinary apps of the district: the fleet median cost per organic user."""
    specs = [  # (intended, real users, daily use, annual cost)
        (300, 240, 0.5, 380_000.0),
        (1200, 800, 0.35, 600_000.0),
        (150, 120, 0.4, 120_000.0),
        (2000, 1300, 0.3, 1_000_000.0),
        (500, 330, 0.35, 250_000.0),
        (80, 70, 0.6, 100_000.0),
    ]
    return [
        Story(f"ordinary-{k}", i, r, _flat(p), c, category=f"ordinary-{k}")
        for k, (i, r, p, c) in enumerate(specs)
    ]


def _decay(start: float, end: float, days: int = 365) -> Callable[[int], float]:
    """Exponential decay from `start` a year ago to `end` now."""
    rate = math.log(start / end) / days
    return lambda back: end * math.exp(rate * min(back, days))


def _season(months: frozenset[int], p_in: float, p_out: float) -> Callable[[int], float]:
    return lambda back: p_in if (TODAY - timedelta(days=back)).month in months else p_out


def _holiday(p: float, first_back: int, last_back: int) -> Callable[[int], float]:
    return lambda back: 0.02 if last_back <= back <= first_back else p


def cases() -> list[Case]:
    summer = frozenset({6, 7, 8})
    winter = frozenset({10, 11, 12, 1, 2})
    busy = Story(
        "busy-reporting", 500, 450, _flat(0.4), 400_000.0,
        features=("forms", "notices"), category="township-reporting",
    )
    return [
        Case(
            "check-in shell",
            "2,000 party members must check in with a photo every day (85 % do); real work "
            "(a form) by 60 of them, now and then; 800k CNY a year; maintained.",
            "candidate",
            "organic use by 3 % of intended users at over ten times the median cost per "
            "organic user: an empty shell, whatever the other signals",
            Story(
                "checkin-shell", 2000, 60, _flat(0.12), 800_000.0,
                features=("checkin", "forms", "photo_upload"), forced=1700, forced_p=0.85,
                category="party-affairs",
            ),
        ),
        Case(
            "year-long decay",
            "A district portal used by 70 % of its 600 users a year ago; use decayed month "
            "by month to a few users now; content still posted monthly.",
            "candidate",
            "lost nearly all its users over a year: compared with its own peak, not with "
            "last month (both already near zero)",
            Story(
                "fading-portal", 600, 420, _decay(0.5, 0.008), 300_000.0,
                features=("forms", "notices"), release_days_ago=60, content_days_ago=30,
                category="portal",
            ),
        ),
        Case(
            "redundant sibling",
            "A second township reporting app with the same features as a busy one (450 of "
            "500 users), used by 60 of its 400 users, 50 of whom also use the busy one.",
            "review",
            "does the same job as a sibling in the same region with a small fraction of its "
            "use: consolidate (2023 Opinions), naming the sibling",
            Story(
                "small-reporting", 400, 60, _flat(0.4), 120_000.0,
                features=("forms", "notices"), category="township-reporting",
                shared_with=("busy-reporting", 50),
            ),
            [busy],
        ),
        Case(
            "same category, other job",
            "A township app in the same category as the busy one but for meeting-room "
            "bookings, used by 60 of its 400 users, none of them shared.",
            "keep",
            "same category is not the same job: no shared features, forms or users",
            Story(
                "room-booking", 400, 60, _flat(0.4), 40_000.0,
                features=("appointment",), category="township-reporting",
            ),
            [busy],
        ),
        Case(
            "healthy daily work",
            "A daily work app: 80 % of 300 users do real work most workdays.",
            "keep",
            "real use by most intended users",
            Story("daily-office", 300, 240, _flat(0.6), 380_000.0, features=("forms",)),
        ),
        Case(
            "small specialist",
            "A food-safety lab tracker for 12 inspectors, 11 use it weekly; 300k CNY a year "
            "(25k per user) and no release for 100 days.",
            "keep",
            "a small specialist app used by most of its intended users (guard rail), however "
            "costly per user",
            Story(
                "lab-tracker", 12, 11, _flat(0.5), 300_000.0, release_days_ago=100,
                content_days_ago=100, category="lab",
            ),
        ),
        Case(
            "seasonal, out of season",
            "A summer-season filing app: 70 % of 200 users in June-August, a trickle since.",
            "keep",
            "judged on its last season, not on its idle months",
            Story(
                "summer-tax", 200, 150, _season(summer, 0.5, 0.003), 200_000.0,
                season_months=summer, release_days_ago=150, content_days_ago=150,
                category="tax",
            ),
        ),
        Case(
            "seasonal, abandoned",
            "A winter heating-subsidy app (October-February): half of its 200 users every "
            "workday last winter; this winter, in season for 50 days, a fortieth of that.",
            "candidate",
            "compared with the same 30 days a year earlier, its users have left",
            Story(
                "winter-subsidy", 200, 150,
                lambda back: (0.5 if back > 300 else 0.012)
                if (TODAY - timedelta(days=back)).month in winter
                else 0.002,
                200_000.0, season_months=winter, release_days_ago=150, content_days_ago=40,
                category="subsidy",
            ),
        ),
        Case(
            "new app",
            "A community-services pilot launched 40 days ago, still finding its users.",
            "insufficient_data",
            "too young to judge (guard rail)",
            Story(
                "new-pilot", 500, 30, _flat(0.3), 100_000.0, launched_days_ago=40,
                category="community",
            ),
        ),
        Case(
            "exempt emergency app",
            "A flood-duty app, used by a few duty staff outside the flood season.",
            "exempt",
            "security and emergency apps are exempt (2026 Measures)",
            Story(
                "flood-duty", 300, 10, _flat(0.3), 500_000.0, exempt=True,
                features=("checkin", "forms"), category="emergency",
            ),
        ),
        Case(
            "holiday week",
            "A healthy app whose judged 30 days hold a week-long holiday with almost no use.",
            "keep",
            "a holiday is not a decline",
            Story(
                "office-holiday", 300, 240, _holiday(0.6, 20, 12), 380_000.0,
                category="office-holiday",
            ),
        ),
        Case(
            "cheap, rarely used",
            "A cheap notice app (30k CNY a year) used for real work by 15 of its 500 users.",
            "review",
            "used by 3 % of its intended users: worth a human look, not a candidate by itself "
            "since it costs little",
            Story("rare-notices", 500, 15, _flat(0.5), 30_000.0, category="notices"),
        ),
        Case(
            "zombie",
            "No real use for 70 days; before that a handful of users; cost unknown.",
            "candidate",
            "2-3 months without use is a zombie (inspection rules)",
            Story(
                "zombie-app", 300, 20, lambda back: 0.0 if back < 70 else 0.2, None,
                category="zombie",
            ),
        ),
        Case(
            "growing",
            "Launched 150 days ago, its use grows from 5 % to half of its 400 users.",
            "keep",
            "its past is smaller than its present: no decline",
            Story(
                "growing-app", 400, 220, lambda back: 0.4 * (1 - back / 160), 200_000.0,
                launched_days_ago=150, category="growing",
            ),
        ),
        Case(
            "well used, unmaintained",
            "60 % of 100 users work in it daily, no release for 200 days, 500k CNY a year.",
            "keep",
            "well used (guard rail): the cost per user and staleness are for the owner",
            Story(
                "old-but-used", 100, 60, _flat(0.6), 500_000.0, release_days_ago=200,
                content_days_ago=200, category="old",
            ),
        ),
    ]


def run_case(case: Case, seed: int, settings: Settings | None = None) -> Assessment:
    """Assess the case's app beside its siblings and the background fleet."""
    rng = np.random.default_rng(seed)
    stories = [case.app, *case.siblings, *background()]
    by_app = {s.app: s for s in stories}
    inputs = [build_input(s, rng, by_app) for s in stories]
    s = settings or Settings()
    return assess_fleet(inputs, lambda _a: s, lambda _a, _n: set())[case.app.app]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, action="append")
    args = ap.parse_args(argv)
    seeds = args.seed or [1, 2, 3]
    print(
        "| case | expected | band (score / additive) per seed | conditions met | "
        "largest signals |"
    )
    print("|---|---|---|---|---|")
    for case in cases():
        results = [run_case(case, seed) for seed in seeds]
        a = results[0]
        top = sorted(a.signals.items(), key=lambda kv: -kv[1].points)[:3]
        print(
            f"| {case.name} | {case.expected} | "
            + ", ".join(f"{r.band} ({r.score:.0f} / {r.additive:.0f})" for r in results)
            + f" | {', '.join(c.code for c in a.conditions) or '-'} | "
            + ", ".join(f"{k} {v.points:g}" for k, v in top if v.points > 0)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
