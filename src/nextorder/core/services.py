"""The one way to write an event row, and the staff accounts whose roles decide what
they may do; every state-changing service calls `event_record`."""

from __future__ import annotations

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
from nextorder.core.models import Event, Team, Verb
from nextorder.core.roles import MANAGER, ROLES


def staff_actor(actor: User | None) -> User | None:
    """The user to record as having acted: an anonymous or missing one is nobody."""
    return actor if actor is not None and actor.is_authenticated else None


def event_record(
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
    """`occurred_at` is for history brought in from elsewhere; live changes use now.

    Listeners of the verb (core/dispatch.py) run in the caller's transaction.
    """
    event = Event.objects.create(
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
    dispatch(event)
    return event


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
