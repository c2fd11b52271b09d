"""Detector registry: every forced-usage detector module, the shutdown assessment, and the
resolution of their settings (config defaults, overridden per app).

Each detector module defines `KIND`, a pydantic `Settings` model (frozen, unknown keys
forbidden, defaults = config defaults) and one of `detect(inp, settings)` (per app),
`detect_fleet(inputs, settings_for)` (across the fleet) or
`detect_assessed(inputs, settings_for, assessments)` (across the fleet, after the shutdown
assessment: it needs each app's organic use). A per-app detector may also define
`detect_batch(inputs, settings)`: the findings `detect` gives for each of several apps
judged with the same settings, in one pass of array operations over them all (the engine
uses it where it exists, and falls back to `detect` app by app if it raises, so a failure
is still one app's).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from tapwatch.detectors import assessment

#: Forced-usage detector modules under tapwatch.detectors, per-app ones first. A module not
#: written yet is skipped (listed in UNAVAILABLE); any other import error propagates.
DETECTOR_MODULES: tuple[str, ...] = (
    "bulk_checkin",
    "device_farm",
    "deadline_concentration",
    "ritual_usage",
    "clockwork_timing",
    "study_inflation",
    "flat_reads",
    "banned_feature",
    "duplicate_reporting",
    "ritual_rounds",
    "consolidation",
)

#: The shutdown assessment (kind "shutdown"): scored per app after every detector has run.
ASSESSMENT: ModuleType = assessment


def _check_interface(name: str, mod: ModuleType) -> None:
    """Fail at import, not mid-run, when a module does not follow the detector interface."""
    problems = []
    if getattr(mod, "KIND", None) != name:
        problems.append(f"KIND must be {name!r}")
    settings = getattr(mod, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        problems.append("Settings must be a pydantic model")
    entries = ("detect", "detect_fleet", "detect_assessed")
    entry = [f for f in entries if callable(getattr(mod, f, None))]
    if len(entry) != 1:
        problems.append(
            "define one of detect(inp, settings), detect_fleet(inputs, settings_for) or "
            "detect_assessed(inputs, settings_for, assessments)"
        )
    if problems:
        raise TypeError(f"detector module tapwatch.detectors.{name}: {'; '.join(problems)}")


def _load() -> tuple[dict[str, ModuleType], tuple[str, ...]]:
    found: dict[str, ModuleType] = {}
    missing: list[str] = []
    for name in DETECTOR_MODULES:
        qualified = f"{__name__}.{name}"
        try:
            mod = importlib.import_module(qualified)
        except ModuleNotFoundError as e:
            if e.name != qualified:
                raise  # the module exists but one of its own imports is missing
            missing.append(name)
            continue
        _check_interface(name, mod)
        found[name] = mod
    return found, tuple(missing)


#: kind -> module, for every forced-usage detector available.
DETECTORS: dict[str, ModuleType]
#: Listed detector modules that are not present in this build.
UNAVAILABLE: tuple[str, ...]
DETECTORS, UNAVAILABLE = _load()
#: Every kind a Finding can have: the detectors', then the assessment's bands.
FINDING_KINDS: tuple[str, ...] = (*DETECTORS, *assessment.FINDING_KIND_BY_BAND.values())


def kinds() -> tuple[str, ...]:
    """Every configurable kind: the detectors, then the assessment."""
    return (*DETECTORS, ASSESSMENT.KIND)


def settings_model(kind: str) -> type[BaseModel]:
    """The Settings model of a detector kind or of the assessment ("shutdown").

    Raises KeyError naming the known kinds.
    """
    if kind == ASSESSMENT.KIND:
        return ASSESSMENT.Settings
    mod = DETECTORS.get(kind)
    if mod is None:
        raise KeyError(f"unknown detector kind {kind!r}; known: {', '.join(kinds())}")
    return mod.Settings


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`; nested mappings merge key by key (so an app can override
    one weight without restating the others)."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def resolve_settings(
    kind: str,
    daemon_defaults: Mapping[str, Any] | None = None,
    app_overrides: Mapping[str, Any] | None = None,
) -> BaseModel:
    """Settings for one kind: model defaults, then the daemon's `detectors: <kind>:` section,
    then the app's own `detectors: <kind>:` overrides.

    Raises pydantic.ValidationError. The defaults are validated first, alone, so an error
    in them has a loc relative to the `detectors: <kind>:` section; an error raised after
    that comes from the app's overrides and has a loc relative to them. An unknown kind is
    a ValidationError too (type "unknown_detector", loc `(kind,)`), so the config loader
    reports every problem the same way.
    """
    try:
        model = settings_model(kind)
    except KeyError:
        raise ValidationError.from_exception_data(
            "detectors",
            [
                InitErrorDetails(
                    type=PydanticCustomError(
                        "unknown_detector",
                        "unknown detector kind '{kind}'; known kinds: {known}",
                        {"kind": kind, "known": ", ".join(kinds())},
                    ),
                    loc=(kind,),
                    input=kind,
                )
            ],
        ) from None
    defaults = dict(daemon_defaults or {})
    base = model.model_validate(defaults)
    if not app_overrides:
        return base
    return model.model_validate(_deep_merge(defaults, app_overrides))
