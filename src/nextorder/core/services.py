"""The one way to write an event row, the staff accounts whose roles decide what they
may do, and the API tokens and webhook subscriptions that act and listen for them;
every state-changing service calls `event_record`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from nextorder.core.dispatch import dispatch
from nextorder.core.models import (
    API_TOKEN_PREFIX,
    ApiToken,
    Event,
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
