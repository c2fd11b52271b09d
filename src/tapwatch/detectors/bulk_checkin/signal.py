"""What the bulk check-in signals are made of: a measured value against a threshold, with
the rule it touches, and the measures the evidence reports beside them."""

from __future__ import annotations

from dataclasses import dataclass

RULE_CHECKIN = "2026 management measures: no mandatory check-in"
RULE_UPLOADS = "2026 management measures: no unnecessary photo or GPS uploads"


@dataclass(slots=True)
class Signal:
    """One measured signal: present when `value` is past `threshold` (and, for shared
    hardware, unlikely by chance); `weight` > 0 raises the score, < 0 lowers it."""

    code: str
    value: float
    threshold: float
    weight: float
    present: bool
    text: str
    rule: str | None = RULE_CHECKIN


@dataclass(slots=True)
class Measures:
    """What the evidence reports beside the signals."""

    network_share: float
    device_model_share: float
    photo_dup_share: float
    accounts_per_device: float
    elsewhere: list[int]  # account codes seen too far away
    never_here: int  # accounts with no other activity at the place
    borrowed: int = 0  # accounts on phones they use nowhere else
