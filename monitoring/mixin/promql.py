"""PromQL and alert-template fragments shared by the rules and the dashboards."""

from __future__ import annotations

#: one row per app with its registry labels; `max by` drops job/instance so the join stays
#: one-to-one even if two targets briefly export the same app (e.g. during a reshard)
APP_INFO = "max by (app, name, owner, region) (tapwatch_app_info)"
APP_INFO_REGION_CATEGORY = "max by (app, region, category) (tapwatch_app_info)"


def with_app_info(expr: str, gap: str | None = None) -> str:
    """`expr` (one series per app) with the app's name, owner and region labels added;
    with `gap`, from the last info sample within it (so a missed scrape keeps the join)."""
    info = APP_INFO
    if gap is not None:
        info = f"max by (app, name, owner, region) (last_over_time(tapwatch_app_info[{gap}]))"
    return f"(\n  {expr}\n)\n* on (app) group_left (name, owner, region)\n  {info}"


def lookup(
    expr: str, fmt: str = "humanize", default: str = "unknown", after: str = "",
    label: str = "app",
) -> str:
    """Alert-template snippet: the first value of a query about this alert's app.

    `expr` holds `%q` wherever the alert's `label` (the app id) goes (Go's %q makes a valid
    PromQL string); `after` follows the value only when there is one (e.g. " ago", where the
    default is "never").
    """
    args = f" $labels.{label}" * expr.count("%q")
    return (
        f'{{{{ with printf "{_go_quote(expr)}"{args} | query }}}}'
        f"{{{{ . | first | value | {fmt} }}}}{after}{{{{ else }}}}{default}{{{{ end }}}}"
    )


def global_lookup(expr: str, fmt: str = "humanize", default: str = "unknown") -> str:
    """Alert-template snippet: the first value of a query not tied to one app."""
    return (
        f'{{{{ with query "{_go_quote(expr)}" }}}}'
        f"{{{{ . | first | value | {fmt} }}}}{{{{ else }}}}{default}{{{{ end }}}}"
    )


def dedup_lookup_share(window: str) -> str:
    """Per instance, the share of the events checked for duplicates over `window`
    (ingested, and rejected as duplicates) that were looked up in the runs on disk."""
    by = "sum by (job, instance) "
    return (
        f"{by}(rate(tapwatch_dedup_disk_lookups_total[{window}]))\n"
        f"  / (\n"
        f"  {by}(rate(tapwatch_app_events_ingested_total[{window}]))\n"
        f'  + {by}(rate(tapwatch_app_events_rejected_total{{reason="duplicate"}}[{window}]))\n'
        "  )"
    )


def _go_quote(expr: str) -> str:
    """Escape a PromQL expression for a double-quoted Go template string."""
    return expr.replace("\\", "\\\\").replace('"', '\\"')
