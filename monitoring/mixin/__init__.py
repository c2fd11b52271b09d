"""Builders for every generated monitoring file (rules, dashboards, Alertmanager example)."""
