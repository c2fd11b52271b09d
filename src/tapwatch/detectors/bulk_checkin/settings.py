"""Settings of the bulk check-in detector (defaults are the config defaults)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Settings(BaseModel):
    """Settings of the bulk check-in detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cell_m: float = Field(
        default=120.0,
        gt=0,
        description="Grid cell size in metres for check-ins not at a declared point; groups "
        "of phones up to cell_m / 3 across are always seen whole.",
    )
    chain_gaps_s: tuple[float, ...] = Field(
        default=(20.0, 60.0, 300.0),
        min_length=1,
        description="Check-ins at one place no further apart than one of these gaps are "
        "chained into a burst; chaining runs once per gap, so a fast ring is seen apart "
        "from passers-by and a careful operator's pauses do not cut a ring in two.",
    )
    session_gap_s: float = Field(
        default=900.0,
        gt=0,
        description="Bursts at one place parted by a pause of up to this many seconds are also "
        "judged as one (a careful operator stopping for a call or a tea, or working through "
        "the bag in sittings); pauses longer than the longest chaining gap do not count "
        "towards the time per phone.",
    )
    min_widening: float = Field(
        default=0.25,
        ge=0,
        description="A burst's rhythm is also read on its core: the largest burst inside it "
        "(seen at a shorter chaining gap) missing at most this share of its check-ins, so a "
        "passer-by chained in at a longer gap does not hide a ring's rhythm.",
    )
    min_accounts: int = Field(
        default=3, ge=2, description="Fewest distinct accounts in a burst worth judging."
    )
    strong_accounts: int = Field(
        default=8,
        ge=3,
        description="Distinct accounts at which the burst size alone gives size_weight.",
    )
    group_accounts: int = Field(
        default=6,
        ge=2,
        description="Largest group of people who commonly arrive together (friends, a family): "
        "arrivals in step only count beyond it, fully from strong_accounts.",
    )
    max_spread_m: float = Field(
        default=12.0,
        gt=0,
        description="Largest radius (metres) holding 80 % of the phones around their median "
        "spot, estimated net of the GPS noise their reported accuracy explains.",
    )
    max_seconds_per_phone: float = Field(
        default=120.0,
        gt=0,
        description="Longest burst, start to end, per phone after the first: one operator "
        "handles each phone within this; people arriving over longer are a gathering.",
    )
    assumed_accuracy_m: float = Field(
        default=20.0,
        ge=0,
        description="Accuracy (68 % radius, metres) taken for a fix that reports none: a "
        "phone's fix is typically good to 5-10 m in the open and 10-20 m beside or inside "
        "buildings, where check-in points usually are. 0 treats such fixes as exact (their "
        "noise then counts as spread).",
    )
    context_s: float = Field(
        default=300.0,
        ge=0,
        description="Seconds before and after a burst in which other check-ins at the same "
        "place are counted: a burst inside a steady stream of arrivals is a crowd.",
    )
    context_m: float = Field(
        default=50.0,
        gt=0,
        description="Metres around a burst's centre in which other check-ins count as "
        "around it (whatever cell or point they fall in).",
    )
    max_context_share: float = Field(
        default=0.5,
        ge=0,
        description="Most other check-ins at the place within context_s, per check-in of "
        "the burst, for the burst to stand alone.",
    )
    all_at_once_s: float = Field(
        default=1.5,
        gt=0,
        description="Seconds per phone at or under which a burst is 'all at once': no group "
        "of people checks in that quickly (software firing phones, or phones laid out).",
    )
    max_gap_cv: float = Field(
        default=0.6,
        gt=0,
        description="Largest coefficient of variation of the gaps for a 'steady rhythm' (one "
        "hand going from phone to phone; independent arrivals are about 1).",
    )
    max_tap_gap_s: float = Field(
        default=15.0,
        gt=0,
        description="Largest median gap of a 'steady rhythm': one hand going from phone to "
        "phone; a regular pace of minutes is no hand's rhythm.",
    )
    fired_together_s: float = Field(
        default=4.0,
        gt=0,
        description="Seconds, first to last, within which every phone must be checked in for "
        "'all at once' (software firing them, a hand sweeping across phones laid out); a "
        "group of people reaching a post averages a second a phone over ten or more.",
    )
    quick_hand_s: float = Field(
        default=0.6,
        gt=0,
        description="Seconds per phone at or under which a burst is 'all at once' (up to "
        "quick_hand_max_s in all): a hand tapping phones laid out, a pace no small group keeps.",
    )
    quick_hand_max_s: float = Field(
        default=30.0,
        gt=0,
        description="Longest a quick hand's sweep lasts, first to last: a table's worth of "
        "phones (50 at quick_hand_s) laid out within one hand's reach. A crowd answering one "
        "call checks in over its own spread of delays (half a minute to minutes) whatever its "
        "number, so a hall of a hundred averages a quick hand's pace, but over longer.",
    )
    max_overlap_share: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Largest share of gaps under a second for a 'steady rhythm' (one phone "
        "at a time).",
    )
    presence_days: float = Field(
        default=7.0,
        gt=0,
        description="Days before the ring's first and after its last check-in in which the "
        "accounts' other activity is looked at (elsewhere, at the place on their own, never "
        "here): the raw window's length, so the signals mean the same in a longer dump.",
    )
    visit_gap_s: float = Field(
        default=1800.0,
        ge=0,
        description="An account's activity at the place counts as 'at other times' when it "
        "is this far from every burst of the ring.",
    )
    belong_share: float = Field(
        default=0.3,
        gt=0,
        le=1,
        description="Share of accounts using the app at the place at other times at which "
        "the group belongs there (counter-evidence).",
    )
    stay_s: float = Field(
        default=3600.0,
        gt=0,
        description="An account is 'still there' when its activity at the place (its "
        "check-ins in the ring and anything else there) spans this long on one day.",
    )
    stay_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of accounts still there hours later at which the group is people "
        "who stayed (counter-evidence).",
    )
    weight_stay: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the score taken off when the accounts stayed at the place.",
    )
    leave_s: float = Field(
        default=7200.0,
        gt=0,
        description="A phone that checked in and is seen over elsewhere_m away within this "
        "many seconds after (or before), at a pace one can travel, left with (or came with) "
        "its owner.",
    )
    day_apart_s: float = Field(
        default=43200.0,
        gt=0,
        description="Phones seen over elsewhere_m away, kilometres apart from each other, "
        "between leave_s and this many seconds before their check-in (a day at work or "
        "school) were not kept together: a network they share is the place's (day_apart).",
    )
    day_apart_share: float = Field(
        default=0.7,
        gt=0,
        le=1,
        description="Share of the accounts, at least, whose phones were seen apart hours "
        "before, for day_apart (a family's days are all their own; a ring of collected "
        "phones has a few owners seen about their day).",
    )
    round_hop_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Phones seen apart hours before lie along one collector's round when, "
        "taken in the order they were seen, the mean hop to the next is under this share "
        "of the median distance between any two (day_apart then does not count).",
    )
    weight_day_apart: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the score put back when the phones spent the day apart "
        "(day_apart), as counter-evidence of its own.",
    )
    min_leave: int = Field(
        default=3,
        ge=2,
        description="Accounts whose phones left (or came) with their owners, in different "
        "directions, at which the group is people going (or coming) their own ways "
        "(counter-evidence).",
    )
    leave_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of the accounts whose phones left (came), at least, for "
        "people_leave (people_arrive).",
    )
    stay_site_m: float = Field(
        default=300.0,
        gt=0,
        description="An account's own activity within this many metres of the place counts "
        "as staying on its site (people_stay; the group's stay that one hand's timing is "
        "judged against): a worker reading the app in the canteen 200 m inside a factory's "
        "gate hours later has stayed. As far as a place of one's own begins (one_place_m) by "
        "default; never less than the place's own radius.",
    )
    one_place_m: float = Field(
        default=300.0,
        gt=0,
        description="A phone seen this many metres or more from the place within leave_s "
        "before or after its check-in (day_apart: hours before) was at a place of its own "
        "(people_arrive, people_leave, day_apart, "
        "people_come_and_go, came_together: a home round the corner is one as much as one "
        "across town); phones seen within this many metres of each other were at one place "
        "(came_together).",
    )
    one_way_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Phones seen before or after lie all one way from the place (a round out "
        "and back, not people from homes all round) when the mean of the unit vectors from "
        "the place to them is this long or longer (people_come_and_go then does not count).",
    )
    weight_leave: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the score taken off when the phones went (or came) their own ways.",
    )
    min_lockstep_ratio: float = Field(
        default=0.8,
        ge=0,
        description="Habit ratio (day-to-day spread of each account's time of day over the "
        "spread within a day) under which a repeated set keeps habitual times, not lockstep.",
    )
    min_common_shift: float = Field(
        default=6.0,
        gt=1,
        description="F ratio (spread of the days' mean shift of the accounts' times of day "
        "over the spread within a day) at or above which the set moves together from day to "
        "day (one session), so its steady times of day are not habits.",
    )
    shared_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of a burst's check-ins on one network (or one device model) that "
        "counts as shared hardware.",
    )
    max_chance_p: float = Field(
        default=0.01,
        gt=0,
        le=1,
        description="A shared network or device model only counts if that many phones would "
        "share it by chance (binomial, from its share of the window's check-ins) with at most "
        "this probability: a popular phone model or a carrier's address block does not count.",
    )
    min_local_checkins: int = Field(
        default=5,
        ge=1,
        description="Other accounts' check-ins at the place (within presence_days) needed to "
        "judge whether a shared network is simply the place's own (a venue's Wi-Fi).",
    )
    photo_dup_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of a burst's photos that repeat another photo of the burst.",
    )
    accounts_per_device: float = Field(
        default=1.5,
        gt=1,
        description="Accounts per distinct device in a burst at which devices count as shared.",
    )
    elsewhere_m: float = Field(
        default=1000.0,
        gt=0,
        description="Distance from the burst at which an account's other activity is 'elsewhere'.",
    )
    max_travel_speed_mps: float = Field(
        default=30.0,
        gt=0,
        description="Other activity of an account is 'elsewhere at the same time' when getting "
        "from it to the account's check-in in the burst needs more than this speed (m/s).",
    )
    elsewhere_within_s: float = Field(
        default=3600.0,
        gt=0,
        description="Other activity of an account is only 'elsewhere at the same time' within "
        "this many seconds of its check-in: over hours a flight takes anyone anywhere "
        "(real users' check-ins in another city the same day are trips, not ring phones).",
    )
    elsewhere_share: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Share of a burst's accounts seen elsewhere at the same time to corroborate.",
    )
    never_here_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of accounts with no check-in at the place outside the bursts "
        "to corroborate.",
    )
    link_jaccard: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Jaccard similarity of account sets at which bursts are one ring.",
    )
    link_days: float = Field(
        default=6.0,
        gt=0,
        description="Bursts this many days apart or less can be linked (chains of them "
        "span longer): a daily ring is linked, a weekly meeting is not.",
    )
    bag_session_gap_s: float = Field(
        default=14400.0,
        gt=0,
        description="Bursts with disjoint accounts at one spot, each starting within this "
        "many seconds of the previous one's end, are one day's sessions of a bag (an official "
        "working through a drawer of phones between other work); their union is linked "
        "across days like one burst's set.",
    )
    bag_within_share: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Two days' unions of a bag worked in sessions (both days in two or more) "
        "are one bag also when this share of the smaller day's phones, at least, are among "
        "the other day's: sessions of one or two phones go unseen, so each day shows a part "
        "of the bag.",
    )
    bag_spot_m: float = Field(
        default=20.0,
        gt=0,
        description="Centres of a day's sessions are at most this far apart: one desk, "
        "as far as indoor fixes of a few phones can tell.",
    )
    again_spread_m: float = Field(
        default=24.0,
        ge=0,
        description="A found ring's set again at its place on another day joins it when "
        "it passes the gates with the spot widened to this radius (`again`): indoor fixes "
        "push a day of a bag past max_spread_m; 0 or under max_spread_m: off.",
    )
    share_max_phones: int = Field(
        default=40,
        gt=0,
        description="Two bursts on other days at one spot, each checked in by one hand, are "
        "shares of one bag (`shares`) only if together they hold at most this many "
        "accounts: what one official carries in a bag. A counter's queue, served one at a "
        "time all day, is hundreds.",
    )
    queue_accounts: int = Field(
        default=60,
        gt=0,
        description="A burst of more accounts than this checked in one after another (a "
        "steady rhythm, one at a time) is a counter's queue served for hours, not a bag (one "
        "official's is at most share_max_phones, with room for passers-by chained in): the "
        "hand's pace then does not count. All at once still does.",
    )
    link_distance_m: float = Field(
        default=100.0,
        gt=0,
        description="Bursts (not at a declared point) whose centres are this close are at "
        "one place for linking and for 'never otherwise here'.",
    )
    size_weight: float = Field(
        default=0.3,
        gt=0,
        lt=1,
        description="Score from size alone at strong_accounts (rising linearly from "
        "min_accounts - 1 accounts).",
    )
    weight_network: float = Field(
        default=0.45, ge=0, lt=1, description="Weight of a shared network."
    )
    weight_device_model: float = Field(
        default=0.45, ge=0, lt=1, description="Weight of a shared device model."
    )
    weight_device: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of several accounts on the same devices."
    )
    weight_photo: float = Field(default=0.5, ge=0, lt=1, description="Weight of repeated photos.")
    weight_elsewhere: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of accounts elsewhere at the same time."
    )
    weight_never_here: float = Field(
        default=0.15, ge=0, lt=1, description="Weight of accounts never otherwise at the place."
    )
    weight_repeat: float = Field(
        default=0.45, ge=0, lt=1, description="Weight of the same accounts on several days."
    )
    habit_days: int = Field(
        default=3,
        ge=2,
        description="Days a repeated set must be seen on before habitual times count against "
        "it (two days of a ring tapped in the same order at a steady hour look like habits).",
    )
    min_borrowed: int = Field(
        default=2,
        ge=1,
        description="Accounts (and at least half of those seen on a phone of their own "
        "within presence_days) checking in on phones they use nowhere else, to corroborate.",
    )
    weight_borrowed: float = Field(
        default=0.45, ge=0, lt=1, description="Weight of accounts on borrowed (spare) phones."
    )
    short_gap_share: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="A gap shorter than this share of the burst's median gap is 'short': "
        "people arriving independently at the burst's pace have about 16 % such gaps, one "
        "operator handling one phone at a time hardly any.",
    )
    one_at_a_time_p: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="Chance, for independent arrivals at the burst's pace, of as few short "
        "gaps as seen, at or under which the phones were handled one at a time.",
    )
    weight_one_at_a_time: float = Field(
        default=0.4, ge=0, lt=1, description="Weight of phones handled one at a time."
    )
    min_hands_pace_s: float = Field(
        default=1.0,
        gt=0,
        description="Local pace (median of the neighbouring gaps, seconds, and the gaps just "
        "before and after) from which two check-ins close together count as many hands: at "
        "a faster pace software or a quick hand does that too.",
    )
    together_s: float = Field(
        default=5.0,
        gt=0,
        description="Two check-ins at most this many seconds apart (and under "
        "short_gap_share of the local pace) are 'together': two people tapping at almost "
        "the same moment.",
    )
    one_hand_together_share: float = Field(
        default=0.03,
        gt=0,
        lt=1,
        description="Share of gaps 'together' that one operator taking one phone at a time "
        "is allowed (an irregular hand now and then takes two phones lying side by side).",
    )
    many_hands_ratio: float = Field(
        default=20.0,
        gt=1,
        description="How many times likelier the gaps must be for people checking in on "
        "their own (exponential gaps at the local pace) than for one operator, for many "
        "hands to count against a ring.",
    )
    weight_many_hands: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the score taken off when many hands checked in (people present).",
    )
    call_p: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="Chance, for one operator keeping one pace, of check-ins bunching in the "
        "middle of the burst and thinning out at both ends as strongly as seen, at or under "
        "which people answered one call (counter-evidence).",
    )
    weight_call: float = Field(
        default=0.3,
        ge=0,
        lt=1,
        description="Share of the score taken off when people answered one call.",
    )
    weight_all_at_once: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of all phones checked in at once."
    )
    weight_steady: float = Field(
        default=0.5, ge=0, lt=1, description="Weight of a steady one-at-a-time rhythm."
    )
    weight_belong: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of the score taken off when the accounts belong at the place.",
    )
    weight_habit: float = Field(
        default=0.5,
        ge=0,
        lt=1,
        description="Share of the score taken off when a repeated set keeps habitual times.",
    )
    min_score: float = Field(
        default=0.6, gt=0, le=1, description="Score at or above which a finding is reported."
    )
    critical_score: float = Field(
        default=0.75, gt=0, le=1, description="Score at or above which a finding is critical."
    )

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if any(g <= 0 for g in self.chain_gaps_s):
            raise ValueError("chain_gaps_s must all be positive")
        if self.strong_accounts <= self.min_accounts - 1:
            raise ValueError("strong_accounts must be at least min_accounts")
        if not self.min_accounts <= self.group_accounts < self.strong_accounts:
            raise ValueError("group_accounts must be from min_accounts to below strong_accounts")
        if self.critical_score < self.min_score:
            raise ValueError("critical_score must not be below min_score")
        return self
