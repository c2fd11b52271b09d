"""Bulk check-in: where the phones were, who arrived when, and each burst's figures."""

from __future__ import annotations

from tapwatch.exporters import svg
from tapwatch.exporters.pages.evidence import EvidenceContext
from tapwatch.exporters.pages.layout import e, facts, fmt_time, num_cell, pseudo, short, table

KINDS = ("bulk_checkin",)


async def section(ctx: EvidenceContext) -> str:
    ev, tz = ctx.evidence, ctx.tz
    out = ["<h2>Bulk check-in</h2>"]
    bursts = ev.get("bursts") or []
    labels = [f"burst {i + 1}: {fmt_time(b.get('start'), tz)}" for i, b in enumerate(bursts)]
    items = [
        ("Point", e(ev.get("point") or "not a declared point")),
        ("Days", e(", ".join(ev.get("days") or []))),
    ]
    gaps = ev.get("gaps") or {}
    if gaps:
        items.append(
            (
                "Gaps between arrivals",
                e(
                    f"median {gaps.get('median_s')} s, min {gaps.get('min_s')} s, "
                    f"max {gaps.get('max_s')} s, CV {gaps.get('cv')}"
                ),
            )
        )
    shared = ev.get("shared") or {}
    if shared:
        items.append(
            (
                "Shared hardware",
                e(
                    f"{shared.get('network_share', 0):.0%} on one network, "
                    f"{shared.get('device_model_share', 0):.0%} one phone model, "
                    f"{shared.get('photo_dup_share', 0):.0%} repeated photos, "
                    f"{shared.get('accounts_per_device')} accounts per device"
                ),
            )
        )
    if "accounts_never_here" in ev:
        items.append(("Never otherwise here", e(f"{ev['accounts_never_here']} accounts")))
    out.append(facts(items))
    timeline = ev.get("timeline") or []
    if ctx.full and timeline:
        spread = next(
            (r.threshold for r in ctx.record.finding.reasons if r.code == "tight_spread"), None
        )
        out.append("<h3>Where the phones were</h3>")
        out.append(
            svg.checkin_plot(
                timeline,
                ring_m=spread,
                burst_labels=labels,
                ring_label=f"spread limit {spread:g} m" if spread else "",
            )
        )
        out.append("<h3>Arrivals per account</h3>")
        out.append(svg.arrivals_plot(timeline, label=short, burst_labels=labels))
    elif not ctx.full:
        out.append(
            "<p class='note'>Positions, accounts and the arrival timeline are shown "
            "to inspectors only.</p>"
        )
    rows = [
        (
            e(fmt_time(b.get("start"), tz)),
            num_cell(b.get("accounts")),
            num_cell(b.get("events")),
            num_cell(b.get("median_gap_s")),
            num_cell(b.get("gap_cv")),
            num_cell(b.get("spread_m")),
            num_cell(b.get("accuracy_m")),
            num_cell(b.get("others_around")),
        )
        for b in bursts
    ]
    out.append(
        "<h3>Bursts</h3>"
        + table(
            (
                "Start",
                "Accounts",
                "Check-ins",
                "Median gap s",
                "Gap CV",
                "Spread m",
                "GPS accuracy m",
                "Others around",
            ),
            rows,
        )
    )
    if ctx.full:
        accs = ev.get("accounts") or []
        devs = ev.get("devices") or []
        out.append(
            f"<p>Accounts ({len(accs)}): " + ", ".join(pseudo(a) for a in accs) + "</p>"
            f"<p>Devices ({len(devs)}): " + ", ".join(pseudo(x) for x in devs) + "</p>"
        )
    return "".join(out)
