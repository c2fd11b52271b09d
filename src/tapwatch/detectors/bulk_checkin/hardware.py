"""Step 4a of bulk check-in: what the phones share. A network or device model counts only
if that many phones would share it by chance with a small probability (binomial, from its
share of the app's other check-ins, and for a network also of other people's check-ins at
the place: a venue's Wi-Fi that people there use on their own tells nothing); accounts on
fewer devices than accounts; photos repeated within a burst."""

from __future__ import annotations

import math

import numpy as np

from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.presence import Context
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import RULE_UPLOADS, Measures, Signal


def hardware_signals(
    ctx: Context, ring: Ring, local: np.ndarray, s: Settings
) -> tuple[Measures, list[Signal]]:
    """Shared network, device model, devices and photos. A network counts only if it is
    unusual both in the app and at the place (a venue's Wi-Fi that people there use on
    their own tells nothing); `local` are other accounts' check-ins at the place."""
    win = ctx.win
    local_nets = win.network[local] if local.size >= s.min_local_checkins else None
    nets = [
        _shared(win.network[b.rows], ctx.network, win.network[ring.rows], local_nets)
        for b in ring.bursts
    ]
    models = [
        _shared(win.device_model[b.rows], ctx.device_model, win.device_model[ring.rows])
        for b in ring.bursts
    ]
    net_share = float(np.mean([v for v, _ in nets]))
    model_share = float(np.mean([v for v, _ in models]))
    # The chance of the most telling burst: linked bursts are the same phones again.
    net_p = min(c for _, c in nets)
    model_p = min(c for _, c in models)
    photo = float(np.mean([_photo_dup_share(win.photo_hash[b.rows]) for b in ring.bursts]))
    per_device = []
    for b in ring.bursts:
        dev = win.device[b.rows]
        known = dev >= 0
        if known.any():
            n_acc = np.unique(win.account[b.rows][known]).size
            per_device.append(n_acc / np.unique(dev[known]).size)
    apd = float(max(per_device)) if per_device else 1.0
    m = Measures(net_share, model_share, photo, apd, [], 0)
    return m, [
        Signal(
            "shared_network",
            round(net_share, 3),
            s.shared_share,
            s.weight_network,
            net_share >= s.shared_share and net_p <= s.max_chance_p,
            f"{net_share:.0%} of check-ins came over one network (by chance: p={net_p:.1g})",
        ),
        Signal(
            "shared_device_model",
            round(model_share, 3),
            s.shared_share,
            s.weight_device_model,
            model_share >= s.shared_share and model_p <= s.max_chance_p,
            f"{model_share:.0%} of the phones are one device model (by chance: p={model_p:.1g})",
        ),
        Signal(
            "shared_device",
            round(apd, 3),
            s.accounts_per_device,
            s.weight_device,
            apd >= s.accounts_per_device,
            f"{apd:.1f} accounts per device",
        ),
        Signal(
            "repeated_photo",
            round(photo, 3),
            s.photo_dup_share,
            s.weight_photo,
            photo >= s.photo_dup_share,
            f"{photo:.0%} of the photos repeat another photo of the burst",
            RULE_UPLOADS,
        ),
    ]


def _photo_dup_share(codes: np.ndarray) -> float:
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0
    _, counts = np.unique(known, return_counts=True)
    return float(counts[counts > 1].sum() / known.size)


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    p = min(max(p, 0.0), 1.0)
    return float(sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k, n + 1)))


def _shared(
    codes: np.ndarray,
    counts: np.ndarray,
    ring_codes: np.ndarray,
    local: np.ndarray | None = None,
) -> tuple[float, float]:
    """Share of a burst's known codes taken by its most common one, and the chance that at
    least that many would carry it at random, given its share of the window's check-ins
    outside the ring (the ring's own check-ins would make any shared network look common)
    or, if higher, its share of the `local` codes (other people's check-ins at the place)."""
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0, 1.0
    vals, n_in = np.unique(known, return_counts=True)
    top = int(np.argmax(n_in))
    v = int(vals[top])
    ring_known = ring_codes[ring_codes >= 0]
    outside = int(counts.sum()) - ring_known.size
    here = (int(counts[v]) if v < counts.size else 0) - int(np.sum(ring_known == v))
    base = here / outside if outside > 0 else 0.0
    if local is not None and local.size:
        base = max(base, float(np.mean(local == v)))
    return float(n_in[top] / known.size), _binomial_tail(int(n_in[top]), known.size, base)
