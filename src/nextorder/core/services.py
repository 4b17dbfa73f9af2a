"""The one way to write an event row, the staff accounts whose roles decide what they
may do, and the API tokens and webhook subscriptions that act and listen for them;
every state-changing service calls `event_record`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import IO, Any
from zoneinfo import ZoneInfo

import holidays
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from nextorder.core.business_time import Schedule
from nextorder.core.dispatch import dispatch
from nextorder.core.ical import IcalError, ical_exceptions
from nextorder.core.models import (
    API_TOKEN_PREFIX,
    ApiToken,
    BusinessCalendar,
    CalendarException,
    Event,
    OpeningPeriod,
    Team,
    Verb,
    WebhookEvent,
    WebhookSubscription,
)
from nextorder.core.roles import MANAGER, ROLES


def staff_actor(actor: User | None) -> User | None:
    """The user to record as having acted: an anonymous or missing one is nobody."""
    return actor if actor is not None and actor.is_authenticated else None


def event_build(
    *,
    verb: Verb,
    subject: models.Model | None,
    actor: User | None = None,
    actor_label: str = "",
    customer_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> Event:
    """An event row not yet written, for `events_record`.

    `occurred_at` is for history brought in from elsewhere; live changes use now.
    """
    return Event(
        occurred_at=occurred_at or timezone.now(),
        actor=staff_actor(actor),
        actor_label=actor_label,
        verb=verb,
        subject_type=ContentType.objects.get_for_model(subject) if subject is not None else None,
        subject_id=subject.pk if subject is not None else None,
        customer_id=customer_id,
        before=before or {},
        after=after or {},
    )


def events_record(*, events: list[Event]) -> list[Event]:
    """Write the events of one change (or of a batch of changes) in one INSERT.

    Listeners of their verbs (core/dispatch.py) run in the caller's transaction.
    """
    Event.objects.bulk_create(events)
    dispatch(events)
    return events


def event_record(**fields: Any) -> Event:
    """One event: the fields of `event_build`."""
    return events_record(events=[event_build(**fields)])[0]


@transaction.atomic
def user_role_set(*, user: User, role: str, actor: User | None = None) -> User:
    """Give a staff user exactly one role. Staff status (the admin) follows it: only
    managers are staff, so an agent's account cannot reach the admin site."""
    if role not in ROLES:
        raise ValidationError(f"Unknown role {role!r}; the roles are {', '.join(ROLES)}.")
    before = sorted(user.groups.values_list("name", flat=True))
    user.groups.set([Group.objects.get(name=role)])
    is_staff = role == MANAGER or user.is_superuser
    if user.is_staff != is_staff:
        user.is_staff = is_staff
        user.save(update_fields=["is_staff"])
    if before != [role]:
        event_record(
            verb=Verb.USER_ROLE_SET,
            subject=user,
            actor=actor,
            before={"roles": before},
            after={"roles": [role]},
        )
    return user


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    is_superuser: bool = False,
    actor: User | None = None,
) -> User:
    """A staff account with its role; without a password it can only log in once one is set."""
    user = get_user_model()(
        username=username,
        first_name=first_name,
        last_name=last_name,
        email=email,
        is_superuser=is_superuser,
    )
    user.set_password(password) if password else user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    event_record(verb=Verb.USER_CREATED, subject=user, actor=actor, after={"username": username})
    return user_role_set(user=user, role=role, actor=actor)


def login_failure_record(*, username: str, ip_address: str | None, locked_out: bool) -> Event:
    """A wrong password (or a refused log-in of a locked-out pair) in the audit log; the
    account is the subject when the name is someone's."""
    user = get_user_model().objects.filter(username=username).first() if username else None
    return event_record(
        verb=Verb.LOGIN_LOCKED_OUT if locked_out else Verb.LOGIN_FAILED,
        subject=user,
        actor_label=f"address:{ip_address or 'unknown'}",
        after={"username": username[:150], "address": ip_address or ""},
    )


def team_ensure(*, name: str, members: Iterable[User] = ()) -> Team:
    """The team of that name, created if missing, with `members` in it (others stay)."""
    team, _created = Team.objects.get_or_create(name=name)
    team.members.add(*members)
    return team


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user: User, name: str, actor: User | None) -> tuple[ApiToken, str]:
    """A new token acting as `user`; the secret is returned once and stored only hashed."""
    if not user.is_active:
        raise ValidationError(f"{user.get_username()} is not active.")
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip(), user=user, secret_sha256=_sha256(secret), prefix=secret[:8])
    token.full_clean()
    token.save()
    event_record(
        verb=Verb.API_TOKEN_CREATED,
        subject=token,
        actor=actor,
        actor_label="" if staff_actor(actor) else "system",
        after={"name": token.name, "user": user.get_username(), "prefix": token.prefix},
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User | None) -> ApiToken:
    """Refuse the token from now on; revoking twice keeps the first time."""
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        event_record(
            verb=Verb.API_TOKEN_REVOKED,
            subject=token,
            actor=actor,
            actor_label="" if staff_actor(actor) else "system",
            after={"name": token.name, "prefix": token.prefix},
        )
    return token


# How stale `last_used_at` may be: stamping every request would write a row per call.
_LAST_USED_RESOLUTION_SECONDS = 60


def api_token_authenticate(*, secret: str) -> ApiToken | None:
    """The live token with this secret, its user active, or None.

    Looked up by the secret's hash (an index seek that reveals nothing of other tokens'
    secrets through timing), then compared in constant time. `last_used_at` is a stamp,
    not a change anyone audits: no event, and at most one write a minute.
    """
    if not secret.startswith(API_TOKEN_PREFIX) or len(secret) > 100:
        return None
    digest = _sha256(secret)
    token = (
        ApiToken.objects.select_related("user")
        .filter(secret_sha256=digest, revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_sha256, digest):
        return None
    now = timezone.now()
    if (
        token.last_used_at is None
        or (now - token.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _checked_events(events: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(events))
    unknown = [e for e in chosen if e not in WebhookEvent.values]
    if unknown or not chosen:
        raise ValidationError(
            f"Events must be some of {', '.join(WebhookEvent.values)}"
            + (f"; unknown: {', '.join(unknown)}." if unknown else ".")
        )
    return chosen


@transaction.atomic
def webhook_subscription_create(
    *, url: str, events: Iterable[str], actor: User | None, active: bool = True
) -> WebhookSubscription:
    """Subscribe `url`; its signing secret is generated here and shown to the caller."""
    subscription = WebhookSubscription(
        url=url.strip(),
        secret=secrets.token_urlsafe(32),
        events=_checked_events(events),
        active=active,
        created_by=staff_actor(actor),
    )
    subscription.full_clean()
    subscription.save()
    event_record(
        verb=Verb.WEBHOOK_SUBSCRIBED,
        subject=subscription,
        actor=actor,
        after={"url": subscription.url, "events": subscription.events, "active": active},
    )
    return subscription


@transaction.atomic
def webhook_subscription_update(
    *,
    subscription: WebhookSubscription,
    actor: User | None,
    url: str | None = None,
    events: Iterable[str] | None = None,
    active: bool | None = None,
) -> WebhookSubscription:
    """Change what is given (None leaves a field); one event lists the changes."""
    requested: dict[str, Any] = {}
    if url is not None:
        requested["url"] = url.strip()
    if events is not None:
        requested["events"] = _checked_events(events)
    if active is not None:
        requested["active"] = active
    before = {
        k: getattr(subscription, k) for k, v in requested.items() if getattr(subscription, k) != v
    }
    if not before:
        return subscription
    for name in before:
        setattr(subscription, name, requested[name])
    subscription.full_clean()
    subscription.save(update_fields=[*before, "updated_at"])
    event_record(
        verb=Verb.WEBHOOK_CHANGED,
        subject=subscription,
        actor=actor,
        before=before,
        after={k: requested[k] for k in before},
    )
    return subscription


@transaction.atomic
def webhook_subscription_delete(*, subscription: WebhookSubscription, actor: User | None) -> None:
    """Delete the subscription with its delivery log; the event keeps what it was."""
    event_record(
        verb=Verb.WEBHOOK_DELETED,
        subject=subscription,
        actor=actor,
        before={"url": subscription.url, "events": subscription.events},
    )
    subscription.delete()


Weekly = Sequence[Sequence[tuple[time, time]]]


def _checked_schedule(*, time_zone: str, weekly: Weekly, special: Iterable[Any] = ()) -> None:
    """The hours as the business-time kernel will read them, or the kernel's reason why
    not as a ValidationError."""
    try:
        Schedule(
            time_zone=time_zone,
            weekly=tuple(tuple(day) for day in weekly),
            special_dates=dict(special),
        )
    except ValueError as error:
        raise ValidationError(str(error)) from error


def _checked_holiday_region(country: str, subdivision: str) -> None:
    if not country:
        if subdivision:
            raise ValidationError("A holiday subdivision needs a holiday country.")
        return
    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValidationError(f"{country!r} is not a country code the holidays package knows.")
    if subdivision and subdivision not in supported[country]:
        raise ValidationError(
            f"{subdivision!r} is not a subdivision of {country}; "
            f"known: {', '.join(supported[country]) or 'none'}."
        )


def _weekly_of(calendar: BusinessCalendar) -> list[list[tuple[time, time]]]:
    weekly: list[list[tuple[time, time]]] = [[] for _ in range(7)]
    for period in calendar.periods.order_by("weekday", "opens"):
        weekly[period.weekday].append((period.opens, period.closes))
    return weekly


def _hours_text(weekly: Weekly) -> list[list[str]]:
    return [[f"{opens:%H:%M}-{closes:%H:%M}" for opens, closes in day] for day in weekly]


def _periods_write(*, calendar: BusinessCalendar, weekly: Weekly) -> None:
    calendar.periods.all().delete()
    OpeningPeriod.objects.bulk_create(
        OpeningPeriod(calendar=calendar, weekday=weekday, opens=opens, closes=closes)
        for weekday, day in enumerate(weekly)
        for opens, closes in day
    )


@transaction.atomic
def calendar_create(
    *,
    name: str,
    time_zone: str,
    weekly: Weekly = ((),) * 7,
    holiday_country: str = "",
    holiday_subdivision: str = "",
    actor: User | None = None,
) -> BusinessCalendar:
    """A business calendar with its weekly hours (Monday first, several periods a day)."""
    _checked_schedule(time_zone=time_zone, weekly=weekly)
    _checked_holiday_region(holiday_country, holiday_subdivision)
    calendar = BusinessCalendar(
        name=name,
        time_zone=time_zone,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
    )
    calendar.full_clean()
    calendar.save()
    _periods_write(calendar=calendar, weekly=weekly)
    event_record(
        verb=Verb.CALENDAR_CREATED,
        subject=calendar,
        actor=actor,
        after={"name": name, "time_zone": time_zone, "hours": _hours_text(weekly)},
    )
    return calendar


@transaction.atomic
def calendar_update(
    *,
    calendar: BusinessCalendar,
    name: str | None = None,
    time_zone: str | None = None,
    weekly: Weekly | None = None,
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    actor: User | None = None,
) -> BusinessCalendar:
    """Change what is given; `weekly` replaces all of the week's periods."""
    old_weekly = _weekly_of(calendar)
    fields = ("name", "time_zone", "holiday_country", "holiday_subdivision")
    before = {field: getattr(calendar, field) for field in fields}
    given = dict(zip(fields, (name, time_zone, holiday_country, holiday_subdivision), strict=True))
    for field, value in given.items():
        if value is not None:
            setattr(calendar, field, value)
    new_weekly = old_weekly if weekly is None else weekly
    _checked_schedule(time_zone=calendar.time_zone, weekly=new_weekly)
    _checked_holiday_region(calendar.holiday_country, calendar.holiday_subdivision)
    calendar.full_clean()
    calendar.save()
    if weekly is not None:
        _periods_write(calendar=calendar, weekly=weekly)
    after = {field: getattr(calendar, field) for field in fields}
    changed_before = {key: value for key, value in before.items() if after[key] != value}
    changed_after = {key: after[key] for key in changed_before}
    if _hours_text(old_weekly) != _hours_text(new_weekly):
        changed_before["hours"] = _hours_text(old_weekly)
        changed_after["hours"] = _hours_text(new_weekly)
    if changed_after:
        event_record(
            verb=Verb.CALENDAR_CHANGED,
            subject=calendar,
            actor=actor,
            before=changed_before,
            after=changed_after,
        )
    return calendar


def _periods_json(periods: Sequence[tuple[time, time]]) -> list[list[str]]:
    return [[opens.strftime("%H:%M:%S"), closes.strftime("%H:%M:%S")] for opens, closes in periods]


def _exception_write(
    *, calendar: BusinessCalendar, day: date, name: str, periods: Sequence[tuple[time, time]]
) -> CalendarException:
    _checked_schedule(
        time_zone=calendar.time_zone, weekly=((),) * 7, special=[(day, tuple(periods))]
    )
    exception, _created = CalendarException.objects.update_or_create(
        calendar=calendar,
        date=day,
        defaults={"name": name[:200], "periods": _periods_json(sorted(periods))},
    )
    return exception


@transaction.atomic
def calendar_exception_set(
    *,
    calendar: BusinessCalendar,
    day: date,
    name: str = "",
    periods: Sequence[tuple[time, time]] = (),
    actor: User | None = None,
) -> CalendarException:
    """Close `day` (no periods) or give it hours of its own, replacing any exception
    already on that date."""
    exception = _exception_write(calendar=calendar, day=day, name=name, periods=periods)
    event_record(
        verb=Verb.CALENDAR_EXCEPTION_SET,
        subject=calendar,
        actor=actor,
        after={"date": day.isoformat(), "name": name, "periods": exception.periods},
    )
    return exception


@transaction.atomic
def calendar_exception_delete(*, exception: CalendarException, actor: User | None = None) -> None:
    """The date goes back to the week's hours (and the public holidays)."""
    calendar, day = exception.calendar, exception.date
    exception.delete()
    event_record(
        verb=Verb.CALENDAR_EXCEPTION_SET,
        subject=calendar,
        actor=actor,
        before={"date": day.isoformat(), "periods": exception.periods},
        after={"date": day.isoformat(), "removed": True},
    )


@dataclass(frozen=True)
class IcalImport:
    """What an iCalendar file changed: dates closed, dates given hours, events skipped
    (recurring ones, which the file should list one by one) with why."""

    closed: int
    special: int
    skipped: list[str]


@transaction.atomic
def calendar_import_ical(
    *, calendar: BusinessCalendar, file: IO[bytes] | bytes, actor: User | None = None
) -> IcalImport:
    """Exceptions from the VEVENTs of an iCalendar file: an all-day event closes each of
    its days; a timed event gives its date those hours (several on one date add up), in
    the calendar's time zone. A date the file names replaces any exception on it."""
    data = file if isinstance(file, bytes) else file.read()
    try:
        closed, special, skipped = ical_exceptions(data, ZoneInfo(calendar.time_zone))
    except IcalError as error:
        raise ValidationError(str(error)) from error
    for day, name in closed.items():
        _exception_write(calendar=calendar, day=day, name=name, periods=())
    for day, (name, periods) in special.items():
        try:
            _exception_write(calendar=calendar, day=day, name=name, periods=periods)
        except ValidationError as error:
            raise ValidationError(f"The events on {day} overlap: {error.messages[0]}") from error
    event_record(
        verb=Verb.CALENDAR_IMPORTED,
        subject=calendar,
        actor=actor,
        after={"closed": len(closed), "special": len(special), "skipped": len(skipped)},
    )
    return IcalImport(closed=len(closed), special=len(special), skipped=skipped)


@transaction.atomic
def team_calendar_set(
    *,
    team: Team,
    calendar: BusinessCalendar | None,
    kind: str | None = None,
    actor: User | None = None,
) -> Team:
    """Which calendar a team keeps, and whether it is a service or a sales line."""
    before = {"calendar": team.calendar.name if team.calendar else None, "kind": team.kind}
    team.calendar = calendar
    if kind is not None:
        if kind not in Team.Kind.values:
            raise ValidationError(f"A team is one of {', '.join(Team.Kind.values)}, not {kind!r}.")
        team.kind = kind
    team.save(update_fields=["calendar", "kind", "updated_at"])
    after = {"calendar": calendar.name if calendar else None, "kind": team.kind}
    if after != before:
        event_record(
            verb=Verb.TEAM_CALENDAR_SET, subject=team, actor=actor, before=before, after=after
        )
    return team
