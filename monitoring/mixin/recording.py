"""Recording rules (`level:metric:operations`) for the dashboards' and alerts' heavy queries."""

from __future__ import annotations

from typing import Any

from .promql import APP_INFO_REGION_CATEGORY

APPS_BY_BAND = "band:tapwatch_app_assessment:sum"
COST_BY_BAND = "band:tapwatch_app_annual_cost_cny:sum"
REACH = "app:tapwatch_app_organic_active_accounts_30d_per_intended_user:ratio"
COST_PER_ACCOUNT = "app:tapwatch_app_annual_cost_cny_per_organic_active_account_30d:ratio"
NO_ORGANIC = "app:tapwatch_app_without_organic_active_accounts_30d:bool"
ORGANIC_BY_REGION_CATEGORY = "region_category:tapwatch_app_organic_active_accounts:sum"


def recording_groups() -> list[dict[str, Any]]:
    """The rule groups of `rules/recording.yaml`."""
    rules = [
        {
            # apps per assessment band; the fleet jump alert takes min_over_time of it
            "record": APPS_BY_BAND,
            "expr": "sum by (band) (tapwatch_app_assessment)",
        },
        {
            # annual spend held by each band: what the candidates cost
            "record": COST_BY_BAND,
            "expr": (
                "sum by (band) (\n"
                "  tapwatch_app_annual_cost_cny\n"
                "  * on (app) group_left (band) (tapwatch_app_assessment == 1)\n"
                ")"
            ),
        },
        {
            # real reach: organic monthly active accounts per intended user (apps with a
            # declared audience only)
            "record": REACH,
            "expr": (
                "max by (app) (tapwatch_app_organic_active_accounts{window=\"30d\"})\n"
                "/\n"
                "max by (app) (tapwatch_app_intended_users > 0)"
            ),
        },
        {
            # yuan a year per organic monthly active account, for apps somebody uses
            # organically (a division by zero would be +Inf: those apps are in NO_ORGANIC)
            "record": COST_PER_ACCOUNT,
            "expr": (
                "max by (app) (tapwatch_app_annual_cost_cny)\n"
                "/\n"
                "max by (app) (tapwatch_app_organic_active_accounts{window=\"30d\"} > 0)"
            ),
        },
        {
            # 1 for an app nobody used organically in 30 days, 0 for the others
            "record": NO_ORGANIC,
            "expr": (
                "max by (app) (tapwatch_app_organic_active_accounts{window=\"30d\"}) == bool 0"
            ),
        },
        {
            "record": ORGANIC_BY_REGION_CATEGORY,
            "expr": (
                "sum by (region, category, window) (\n"
                "  tapwatch_app_organic_active_accounts\n"
                f"  * on (app) group_left (region, category) {APP_INFO_REGION_CATEGORY}\n"
                ")"
            ),
        },
    ]
    return [{"name": "tapwatch-recording", "rules": rules}]
