"""Do two apps do the same job? Shared by the shutdown assessment (a small sibling of a
busy app) and the consolidation finding (a group of apps to merge).

Two apps share their purpose in a way the data can show when most of their declared
features are alike, reports with the same content are filed in both, the same units file
in both, or the same (pseudonymous) accounts are active in both: pseudonyms are keyed on
the raw id, so they link one official across apps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from tapwatch.bytecolumns import strings_at
from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.derived import per_app
from tapwatch.detectors.stats import distinct_codes, rounded, shared_member_counts
from tapwatch.events import EventType
from tapwatch.window import local_day_of

MONTH = 30


@dataclass(frozen=True, slots=True)
class JobRule:
    """Thresholds at which each measure shows the same job."""

    feature_similarity: float  # Jaccard of declared features
    shared_forms: int  # form contents filed in both (raw window)
    unit_overlap: float  # share of this app's units also filing in the other
    account_overlap: float  # share of this app's active accounts also active in the other


@dataclass(frozen=True, slots=True)
class AppTraits:
    """What apps are compared on."""

    app: str
    features: frozenset[str]
    accounts: frozenset[str]  # active in the judged 30 days
    units: frozenset[str]  # units seen in the raw window
    forms: frozenset[str]  # content hashes of forms filed in the raw window


def active_accounts(inp: DetectorInput, ref_day: int | None = None) -> frozenset[str]:
    """Accounts with any event in the 30 days to `ref_day` (default: today)."""
    ad = inp.account_days
    if not len(ad):
        return frozenset()
    ref = local_day_of(inp.now, inp.app.timezone) if ref_day is None else ref_day

    def compute() -> frozenset[str]:
        in_win = (ad.day > ref - MONTH) & (ad.day <= ref)
        codes = distinct_codes(ad.account[in_win], len(ad.accounts))
        return frozenset(strings_at(ad.accounts, codes))

    # the assessment and consolidation both ask, once per pass
    return per_app("same_job.active_accounts", inp, compute, ref)


def traits(inp: DetectorInput, accounts: frozenset[str]) -> AppTraits:
    """The app's traits, with these accounts as its active ones."""
    return replace(per_app("same_job.traits", inp, lambda: _traits(inp)), accounts=accounts)


def _traits(inp: DetectorInput) -> AppTraits:
    ev = inp.events
    filed = (ev.type == int(EventType.form_submit)) & (ev.content_hash >= 0)
    forms = distinct_codes(ev.content_hash[filed], len(ev.strings))
    units = distinct_codes(ev.unit[ev.unit >= 0], len(ev.strings))
    listed = inp.snapshot.features if inp.snapshot is not None else frozenset()
    return AppTraits(
        app=inp.app.id,
        features=inp.app.declared_features | listed,
        accounts=frozenset(),
        units=frozenset(map(ev.strings.__getitem__, units.tolist())),
        forms=frozenset(map(ev.strings.__getitem__, forms.tolist())),
    )


def same_job_evidence(me: AppTraits, other: AppTraits, rule: JobRule) -> dict[str, float]:
    """The measures that show `other` doing `me`'s job (only those at their threshold)."""
    return _evidence(
        _Common(
            len(me.features), len(other.features), len(me.features & other.features),
            len(me.accounts), len(other.accounts), len(me.accounts & other.accounts),
            len(me.forms & other.forms), len(me.units), len(me.units & other.units),
        ),
        rule,
    )


@dataclass(frozen=True, slots=True)
class _Common:
    """What two apps have in common, counted (all the measures need)."""

    features: int
    other_features: int
    both_features: int
    accounts: int
    other_accounts: int
    both_accounts: int
    both_forms: int
    units: int
    both_units: int


def _evidence(c: _Common, rule: JobRule) -> dict[str, float]:
    found: dict[str, float] = {}
    if c.features and c.other_features:
        jaccard = c.both_features / (c.features + c.other_features - c.both_features)
        if jaccard >= rule.feature_similarity:
            found["feature_similarity"] = round(jaccard, 3)
    if c.accounts and c.other_accounts:
        shared = c.both_accounts / c.accounts
        if shared >= rule.account_overlap:
            found["shared_accounts"] = round(shared, 3)
    if c.both_forms >= rule.shared_forms:
        found["shared_forms"] = float(c.both_forms)
    if c.units:
        shared = c.both_units / c.units
        if shared >= rule.unit_overlap:
            found["shared_units"] = round(shared, 3)
    return found


def _in_common(*kinds: Sequence[frozenset[str]]) -> list[np.ndarray]:
    """Per kind of set (each a set per app), the members each two apps' sets have in
    common ([i, j]; [i, i] the set's size). Every kind's sets go through one index of
    members: a pair of sets of two kinds that share a string is counted too, and never
    read."""
    n = len(kinds[0])
    first, second, count = shared_member_counts([x for sets in kinds for x in sets])
    out = []
    for k, sets in enumerate(kinds):
        mine = (first >= k * n) & (second < (k + 1) * n)  # first < second: both of kind k
        m = np.zeros((n, n), dtype=np.int64)
        i, j = first[mine] - k * n, second[mine] - k * n
        m[i, j] = count[mine]
        m[j, i] = count[mine]
        m[np.arange(n), np.arange(n)] = [len(x) for x in sets]
        out.append(m)
    return out


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole where whole > 0, else 0 (the same float64 quotient Python's int / int
    gives, for counts below 2**53)."""
    return np.divide(part, whole, out=np.zeros(part.shape), where=whole > 0)


def evidence_between(
    apps: Sequence[AppTraits], rules: Sequence[JobRule]
) -> dict[tuple[int, int], dict[str, float]]:
    """`same_job_evidence(apps[i], apps[j], rules[i])` for every i != j where it is not
    empty, the common features, accounts, forms and units of a whole group counted at once
    (a group's apps compared pair by pair would intersect the same large account sets again
    and again), and every pair's measures against its thresholds as arrays: only the pairs
    with evidence are visited in Python."""
    n = len(apps)
    feat, acc, forms, units = _in_common(
        *([getattr(a, f) for a in apps] for f in ("features", "accounts", "forms", "units"))
    )
    sizes = {k: np.diag(m) for k, m in (("f", feat), ("a", acc), ("u", units))}

    def threshold(field: str) -> np.ndarray:
        return np.array([getattr(r, field) for r in rules], dtype=np.float64)[:, None]

    nf, na, nu = sizes["f"], sizes["a"], sizes["u"]
    both_f = (nf[:, None] > 0) & (nf[None, :] > 0)
    jaccard = _share(feat, nf[:, None] + nf[None, :] - feat)
    by_features = both_f & (jaccard >= threshold("feature_similarity"))
    both_a = (na[:, None] > 0) & (na[None, :] > 0)
    accounts = _share(acc, np.broadcast_to(na[:, None], acc.shape))
    by_accounts = both_a & (accounts >= threshold("account_overlap"))
    by_forms = forms >= threshold("shared_forms")
    unit_share = _share(units, np.broadcast_to(nu[:, None], units.shape))
    by_units = (nu[:, None] > 0) & (unit_share >= threshold("unit_overlap"))
    found = by_features | by_accounts | by_forms | by_units
    found[np.arange(n), np.arange(n)] = False
    first, second = np.nonzero(found)  # row by row: i, then j, as the pairwise loops
    out: dict[tuple[int, int], dict[str, float]] = {}
    for i, j, f, jac, a, sa, fo, n_forms, u, su in zip(
        first.tolist(), second.tolist(),
        by_features[first, second].tolist(), _rounded(jaccard[first, second], 3),
        by_accounts[first, second].tolist(), _rounded(accounts[first, second], 3),
        by_forms[first, second].tolist(), forms[first, second].tolist(),
        by_units[first, second].tolist(), _rounded(unit_share[first, second], 3),
        strict=True,
    ):
        ev: dict[str, float] = {}
        if f:
            ev["feature_similarity"] = jac
        if a:
            ev["shared_accounts"] = sa
        if fo:
            ev["shared_forms"] = float(n_forms)
        if u:
            ev["shared_units"] = su
        out[(i, j)] = ev
    return out


def _rounded(values: np.ndarray, ndigits: int) -> list[float]:
    """`[round(v, ndigits) for v in values.tolist()]` of shares (stats.rounded)."""
    return rounded(values, ndigits).tolist()


def describe(evidence: dict[str, float]) -> str:
    """Same-job evidence in words, e.g. "75% of its accounts, 4 forms filed in both"."""
    # a fleet's tens of thousands of sibling pairs have a few hundred distinct evidences
    return _in_words(tuple(evidence.items()))


_WORDS = {
    "same_category": lambda _v: "the same category",
    "feature_similarity": lambda v: f"declared features {100 * v:.0f}% alike",
    "shared_accounts": lambda v: f"{100 * v:.0f}% of its accounts",
    "shared_forms": lambda v: f"{v:.0f} forms filed in both",
    "shared_units": lambda v: f"{100 * v:.0f}% of its units",
}


@lru_cache(maxsize=4096)
def _in_words(evidence: tuple[tuple[str, float], ...]) -> str:
    return ", ".join(_WORDS[k](v) for k, v in evidence)
