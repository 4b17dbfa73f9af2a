"""Business-time arithmetic: hand-checked cases around the 2026 daylight-saving changes
in Berlin (29 March 02:00 → 03:00, 25 October 03:00 → 02:00) and New York (8 March
02:00 → 03:00, 1 November 02:00 → 01:00), then properties over random schedules."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextorder.core.business_time import (
    Schedule,
    add_business_seconds,
    add_business_time,
    business_time_between,
    open_intervals,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MIDNIGHT = time(0)
H = timedelta(hours=1)


def every_day(*periods, time_zone="Europe/Berlin", **kwargs):
    return Schedule(time_zone=time_zone, weekly=(tuple(periods),) * 7, **kwargs)


def office(time_zone, *periods, days=5, **kwargs):
    weekly = tuple(tuple(periods) if weekday < days else () for weekday in range(7))
    return Schedule(time_zone=time_zone, weekly=weekly, **kwargs)


def at(zone, *fields, fold=0):
    return datetime(*fields, tzinfo=zone, fold=fold)


def utc(*fields):
    return datetime(*fields, tzinfo=UTC)


# Always open: the length of a local day is the length of the civil day.
def test_open_all_day_counts_23_and_25_hour_days_in_berlin():
    always = every_day((MIDNIGHT, MIDNIGHT))
    assert business_time_between(at(BERLIN, 2026, 3, 28), at(BERLIN, 2026, 3, 30), always) == 47 * H
    assert (
        business_time_between(at(BERLIN, 2026, 10, 24), at(BERLIN, 2026, 10, 26), always) == 49 * H
    )


def test_night_shift_across_midnight_and_the_change_in_berlin():
    nights = every_day((time(0), time(6)), (time(22), MIDNIGHT))
    # 22:00 CET (21:00 UTC) to 06:00 CEST (04:00 UTC): seven hours.
    spring = business_time_between(at(BERLIN, 2026, 3, 28, 22), at(BERLIN, 2026, 3, 29, 6), nights)
    assert spring == 7 * H
    # 22:00 CEST (20:00 UTC) to 06:00 CET (05:00 UTC): nine hours.
    autumn = business_time_between(
        at(BERLIN, 2026, 10, 24, 22), at(BERLIN, 2026, 10, 25, 6), nights
    )
    assert autumn == 9 * H
    # The whole night is one stretch: seven hours run out at the closing, not the next night.
    due = add_business_time(at(BERLIN, 2026, 3, 28, 22), 7 * H, nights)
    assert due == utc(2026, 3, 29, 4)
    later = add_business_time(at(BERLIN, 2026, 3, 28, 22), 7 * H + timedelta(minutes=30), nights)
    assert later == utc(2026, 3, 29, 20, 30)  # 22:30 CEST


def test_a_period_spanning_the_change_in_berlin():
    sunday = office("Europe/Berlin", (time(1), time(4)), days=7)
    # 01:00 CET (00:00 UTC) to 04:00 CEST (02:00 UTC).
    assert _intervals_equal(
        open_intervals(sunday, utc(2026, 3, 28, 12), utc(2026, 3, 29, 12)),
        [(utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))],
    )
    spring = business_time_between(utc(2026, 3, 28, 12), utc(2026, 3, 29, 12), sunday)
    assert spring == 2 * H
    # 01:00 CEST (23:00 UTC on Saturday) to 04:00 CET (03:00 UTC).
    autumn = business_time_between(utc(2026, 10, 24, 12), utc(2026, 10, 25, 12), sunday)
    assert autumn == 4 * H
    assert add_business_time(utc(2026, 10, 24, 12), 4 * H, sunday) == utc(2026, 10, 25, 3)


def _intervals_equal(arrays, expected):
    opens, closes = arrays
    return [(o, c) for o, c in zip(opens.tolist(), closes.tolist(), strict=True)] == [
        (o.timestamp(), c.timestamp()) for o, c in expected
    ]


def test_periods_in_the_gap_and_the_fold_in_berlin():
    # A period wholly inside the skipped hour is empty; one opening in it opens at 03:00.
    in_gap = office("Europe/Berlin", (time(2), time(2, 30)), (time(2, 45), time(5)), days=7)
    assert _intervals_equal(
        open_intervals(in_gap, utc(2026, 3, 28, 23), utc(2026, 3, 29, 12)),
        [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 3))],
    )
    # A period in the repeated hour opens at the first 02:00 and closes at the second 02:30.
    in_fold = office("Europe/Berlin", (time(2), time(2, 30)), days=7)
    assert _intervals_equal(
        open_intervals(in_fold, utc(2026, 10, 24, 23), utc(2026, 10, 25, 12)),
        [(utc(2026, 10, 25, 0), utc(2026, 10, 25, 1, 30))],
    )


def test_office_hours_across_the_spring_weekend_in_new_york():
    nine_to_five = office("America/New_York", (time(9), time(17)))
    # Friday 16:00 EST plus two hours: one hour on Friday, one on Monday (EDT).
    due = add_business_time(at(NEW_YORK, 2026, 3, 6, 16), 2 * H, nine_to_five)
    assert due == at(NEW_YORK, 2026, 3, 9, 10)
    assert due.utcoffset() == -4 * H
    assert (
        business_time_between(
            at(NEW_YORK, 2026, 3, 6, 9), at(NEW_YORK, 2026, 3, 9, 17), nine_to_five
        )
        == 16 * H
    )


def test_early_shift_and_night_shift_in_new_york():
    early = office("America/New_York", (time(0), time(6)), days=7)
    day = timedelta(days=1)
    assert (
        business_time_between(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 8) + day, early)
        == 5 * H
    )
    assert (
        business_time_between(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2), early) == 7 * H
    )
    nights = every_day((time(0), time(6)), (time(22), MIDNIGHT), time_zone="America/New_York")
    # Saturday 22:00 EDT (02:00 UTC) to Sunday 06:00 EST (11:00 UTC).
    assert add_business_time(at(NEW_YORK, 2026, 10, 31, 22), 9 * H, nights) == utc(2026, 11, 1, 11)
    # 01:30 happens twice; half an hour after the second 01:30 (EST) is 02:00 EST.
    second = at(NEW_YORK, 2026, 11, 1, 1, 30, fold=1)
    assert add_business_time(second, H / 2, nights) == utc(2026, 11, 1, 7)


def test_holidays_close_the_day_and_special_dates_win():
    christmas = {date(2026, 12, 25), date(2026, 12, 26)}
    shop = office("Europe/Berlin", (time(9), time(17)), days=6, closed_dates=frozenset(christmas))
    # Thursday 24 December 16:00 + 2 h: Friday and Saturday are holidays, Sunday is closed.
    assert add_business_time(at(BERLIN, 2026, 12, 24, 16), 2 * H, shop) == at(
        BERLIN, 2026, 12, 28, 10
    )
    opened = Schedule(
        time_zone="Europe/Berlin",
        weekly=shop.weekly,
        closed_dates=shop.closed_dates,
        special_dates={date(2026, 12, 26): ((time(10), time(12)),)},
    )
    assert add_business_time(at(BERLIN, 2026, 12, 24, 16), 2 * H, opened) == at(
        BERLIN, 2026, 12, 26, 11
    )


def test_split_shift_skips_the_lunch_break():
    split = office("Europe/Berlin", (time(13), time(17)), (time(9), time(12)))
    monday = date(2026, 6, 1)
    assert split.weekly[0] == ((time(9), time(12)), (time(13), time(17)))
    assert add_business_time(at(BERLIN, 2026, 6, 1, 11), 2 * H, split) == at(BERLIN, 2026, 6, 1, 14)
    lunch = business_time_between(
        at(BERLIN, 2026, 6, 1, 11, 30), at(BERLIN, 2026, 6, 1, 13, 30), split
    )
    assert lunch == H
    # No time at all from the lunch break is the next opening; running out at noon is noon.
    assert add_business_time(at(BERLIN, 2026, 6, 1, 12, 30), timedelta(0), split) == at(
        BERLIN, 2026, 6, 1, 13
    )
    assert add_business_time(at(BERLIN, 2026, 6, 1, 9), 3 * H, split) == at(BERLIN, 2026, 6, 1, 12)
    assert monday.weekday() == 0


def test_measuring_backwards_is_negative():
    split = office("Europe/Berlin", (time(9), time(17)))
    assert (
        business_time_between(at(BERLIN, 2026, 6, 2, 10), at(BERLIN, 2026, 6, 1, 16), split)
        == -2 * H
    )


@pytest.mark.parametrize(
    ("weekly", "message"),
    [
        (((time(9), time(12)), (time(11), time(13))), "overlap"),
        (((time(17), time(9)),), "open before it closes"),
        (((time(9), time(9)),), "open before it closes"),
        (((time(9),),), "pair"),
    ],
)
def test_bad_periods_are_refused_clearly(weekly, message):
    with pytest.raises(ValueError, match=message):
        Schedule(time_zone="Europe/Berlin", weekly=(weekly,) + ((),) * 6)


def test_bad_zones_days_and_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="IANA"):
        Schedule(time_zone="Mars/Olympus", weekly=((),) * 7)
    with pytest.raises(ValueError, match="7 days"):
        Schedule(time_zone="UTC", weekly=((),) * 5)
    with pytest.raises(ValueError, match="aware"):
        add_business_time(datetime(2026, 1, 1), H, every_day((time(9), time(17))))
    with pytest.raises(ValueError, match="negative"):
        add_business_time(utc(2026, 1, 1), -H, every_day((time(9), time(17))))


def test_a_calendar_that_never_opens_is_an_error_not_a_loop():
    never = Schedule(time_zone="UTC", weekly=((),) * 7)
    with pytest.raises(ValueError, match="never open"):
        add_business_time(utc(2026, 1, 1), H, never)
    with pytest.raises(ValueError, match="never open"):
        add_business_seconds(np.array([utc(2026, 1, 1).timestamp()]), np.array([60.0]), never)
    once = Schedule(
        time_zone="UTC", weekly=((),) * 7, special_dates={date(2026, 2, 2): ((time(9), time(10)),)}
    )
    assert add_business_time(utc(2026, 1, 1), H / 2, once) == utc(2026, 2, 2, 9, 30)
    with pytest.raises(ValueError, match="never open"):
        add_business_time(utc(2026, 1, 1), 2 * H, once)


def test_vectorised_form_extends_its_horizon():
    weekend_hour = Schedule(
        time_zone="UTC",
        weekly=((),) * 5 + (((time(10), time(11)),),) * 2,
    )
    start = utc(2026, 1, 1)
    # 200 hours of one open hour per weekend day: about two years, past the default horizon.
    due = add_business_seconds(
        np.array([start.timestamp()]), np.array([200 * 3600.0]), weekend_hour
    )
    assert due[0] == add_business_time(start, 200 * H, weekend_hour).timestamp()


# Properties over random schedules in zones with awkward changes: half-hour DST (Lord
# Howe), DST at midnight (Santiago, Havana), none (Kolkata, UTC).
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "America/Santiago",
    "America/Havana",
    "Asia/Kolkata",
    "UTC",
]


@st.composite
def day_periods(draw):
    minutes = sorted(draw(st.sets(st.integers(0, 24 * 60 // 15), max_size=6)))
    if len(minutes) % 2:
        minutes = minutes[:-1]
    periods = []
    for opens, closes in zip(minutes[::2], minutes[1::2], strict=True):
        opens_at = time(opens * 15 // 60, opens * 15 % 60)
        closes_at = (
            MIDNIGHT if closes * 15 == 24 * 60 else time(closes * 15 // 60, closes * 15 % 60)
        )
        periods.append((opens_at, closes_at))
    return tuple(periods)


@st.composite
def schedules(draw):
    weekly = tuple(draw(day_periods()) for _ in range(7))
    if not any(weekly):
        weekly = (((time(9), time(17)),), *weekly[1:])
    holidays = draw(st.frozensets(st.dates(date(2025, 12, 1), date(2027, 2, 1)), max_size=20))
    special = draw(
        st.dictionaries(st.dates(date(2025, 12, 1), date(2027, 2, 1)), day_periods(), max_size=5)
    )
    return Schedule(
        time_zone=draw(st.sampled_from(ZONES)),
        weekly=weekly,
        closed_dates=holidays,
        special_dates=special,
    )


instants = st.integers(
    int(utc(2026, 1, 1).timestamp()) * 1_000_000, int(utc(2027, 1, 1).timestamp()) * 1_000_000
).map(lambda us: datetime.fromtimestamp(0, UTC) + timedelta(microseconds=us))
durations = st.integers(0, 40 * 86_400 * 1_000_000).map(lambda us: timedelta(microseconds=us))


def _in_open_hours(moment, schedule, *, closing_allowed):
    opens, closes = open_intervals(schedule, moment - timedelta(days=2), moment + timedelta(days=2))
    stamp = moment.timestamp()
    if closing_allowed:
        return bool(((opens <= stamp) & (stamp <= closes)).any())
    return bool(((opens <= stamp) & (stamp < closes)).any())


@settings(max_examples=150, deadline=None)
@given(schedule=schedules(), start=instants, duration=durations)
def test_adding_then_measuring_gives_back_the_duration(schedule, start, duration):
    due = add_business_time(start, duration, schedule)
    assert due >= start
    assert business_time_between(start, due, schedule) == duration


@settings(max_examples=150, deadline=None)
@given(schedule=schedules(), start=instants, duration=durations)
def test_results_never_fall_in_closed_hours(schedule, start, duration):
    due = add_business_time(start, duration, schedule)
    assert _in_open_hours(due, schedule, closing_allowed=duration > timedelta(0))


@settings(max_examples=100, deadline=None)
@given(schedule=schedules(), start=instants, middle=durations, end=durations)
def test_measuring_adds_up_over_consecutive_stretches(schedule, start, middle, end):
    b, c = start + middle, start + middle + end
    total = business_time_between(start, b, schedule) + business_time_between(b, c, schedule)
    assert total == business_time_between(start, c, schedule)


@settings(max_examples=60, deadline=None)
@given(
    schedule=schedules(),
    pairs=st.lists(st.tuples(instants, durations), min_size=1, max_size=20),
)
def test_vectorised_form_equals_the_scalar_form(schedule, pairs):
    starts = np.array([start.timestamp() for start, _ in pairs])
    seconds = np.array([duration.total_seconds() for _, duration in pairs])
    due = add_business_seconds(starts, seconds, schedule)
    expected = [add_business_time(start, duration, schedule) for start, duration in pairs]
    got_us = np.round(due * 1_000_000).astype(np.int64).tolist()
    assert got_us == [
        (moment - datetime.fromtimestamp(0, UTC)) // timedelta(microseconds=1)
        for moment in expected
    ]
