"""Who gets a new ticket: its team's assignment rule, configured by leads.

A rule picks among the team's members who work tickets: round robin, or whoever has the
fewest open tickets; with skills on, those who know the ticket's products (from its
order) or the customer's language come first. It only ever fills an empty assignee: a
ticket assigned by hand keeps its agent, and a team whose rule is "by hand" is left to
its lead. The one team that takes unrouted tickets also gets those arriving without a
team (email, web form, portal).

`tickets_assign` works on a batch in memory with a fixed number of queries, so the mail
path's batches stay flat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q

from nextorder.core.models import Team, Verb
from nextorder.core.services import event_record
from nextorder.crm.models import OrderLine
from nextorder.desk.language import guess_language
from nextorder.desk.models import AgentSkill, AssignmentRule, Ticket
from nextorder.desk.selectors import ticket_workers


@dataclass(frozen=True)
class NewTicket:
    """A ticket about to be written, with the text its skills are read from."""

    ticket: Ticket
    text: str


def _wanted_skills(item: NewTicket, products: dict[int, set[str]]) -> set[tuple[str, str]]:
    wanted = {
        (AgentSkill.Kind.PRODUCT.value, name)
        for name in products.get(item.ticket.order_id or 0, ())
    }
    language = guess_language(item.text)
    if language:
        wanted.add((AgentSkill.Kind.LANGUAGE.value, language))
    return wanted


def _products_of_orders(order_ids: set[int]) -> dict[int, set[str]]:
    """Each order's products, by lower-cased name and SKU: how skills name them."""
    found: dict[int, set[str]] = {}
    lines = OrderLine.objects.filter(order_id__in=order_ids, product__isnull=False)
    for order_id, name, sku in lines.values_list("order_id", "product__name", "product__sku"):
        found.setdefault(order_id, set()).update({name.lower(), sku.lower()})
    return found


def tickets_assign(items: Sequence[NewTicket]) -> None:
    """Give the batch's unassigned tickets a team (the unrouted team's, if they have
    none) and an agent by their team's rule, in memory; the caller writes them."""
    waiting = [item for item in items if item.ticket.assignee_id is None]
    if not waiting:
        return
    team_ids = {item.ticket.team_id for item in waiting if item.ticket.team_id}
    # Locked: two batches at once must not both take the round robin's next member.
    rules = {
        rule.team_id: rule
        for rule in AssignmentRule.objects.select_for_update(of=("self",))
        .select_related("team")
        .filter(Q(team_id__in=team_ids) | Q(takes_unrouted=True))
    }
    unrouted = next((rule for rule in rules.values() if rule.takes_unrouted), None)
    for item in waiting:
        if item.ticket.team_id is None and unrouted is not None:
            item.ticket.team = unrouted.team
    working = [
        (item, rules[item.ticket.team_id])
        for item in waiting
        if item.ticket.team_id in rules
        and rules[item.ticket.team_id].method != AssignmentRule.Method.MANUAL
    ]
    if not working:
        return
    teams = {rule.team_id for _item, rule in working}
    members: dict[int, list[User]] = {}
    for user in ticket_workers().filter(teams__in=teams).prefetch_related("teams", "skills"):
        for team in user.teams.all():
            if team.pk in teams:
                members.setdefault(team.pk, []).append(user)
    open_counts = Counter(
        dict(
            Ticket.objects.filter(
                status__in=Ticket.ACTIVE_STATUSES,
                assignee__in=[u for group in members.values() for u in group],
            )
            .values_list("assignee")
            .annotate(n=Count("id"))
            .values_list("assignee", "n")
        )
    )
    products = _products_of_orders({i.ticket.order_id for i, _r in working if i.ticket.order_id})
    touched: set[int] = set()
    for item, rule in working:
        people = sorted(members.get(rule.team_id, []), key=lambda u: u.pk)
        if not people:
            continue
        if rule.use_skills:
            wanted = _wanted_skills(item, products)
            scores = {
                u.pk: sum((s.kind, s.value) in wanted for s in u.skills.all()) for u in people
            }
            best = max(scores.values())
            if best:
                people = [u for u in people if scores[u.pk] == best]
        chosen = _choose(rule=rule, people=people, open_counts=open_counts)
        item.ticket.assignee = chosen
        open_counts[chosen.pk] += 1
        rule.last_assigned = chosen
        touched.add(rule.pk)
    for rule in rules.values():
        if rule.pk in touched:
            AssignmentRule.objects.filter(pk=rule.pk).update(last_assigned=rule.last_assigned)


def _choose(*, rule: AssignmentRule, people: list[User], open_counts: Counter[int]) -> User:
    if rule.method == AssignmentRule.Method.LEAST_OPEN:
        return min(people, key=lambda u: (open_counts[u.pk], u.pk))
    after = rule.last_assigned_id or 0
    return next((u for u in people if u.pk > after), people[0])


@transaction.atomic
def assignment_rule_set(
    *, team: Team, method: str, use_skills: bool, takes_unrouted: bool, actor: User
) -> AssignmentRule:
    """A lead sets how their team's new tickets are assigned."""
    if not actor.has_perm("desk.assign_ticket"):
        raise ValidationError("Only leads set how tickets are assigned.")
    if method not in AssignmentRule.Method.values:
        raise ValidationError(f"Unknown method {method!r}.")
    rule, _created = AssignmentRule.objects.select_for_update().get_or_create(team=team)
    before = {
        "method": rule.method,
        "use_skills": rule.use_skills,
        "takes_unrouted": rule.takes_unrouted,
    }
    if takes_unrouted:
        # One team takes the unrouted tickets: choosing another moves them there.
        AssignmentRule.objects.filter(takes_unrouted=True).exclude(pk=rule.pk).update(
            takes_unrouted=False
        )
    rule.method, rule.use_skills, rule.takes_unrouted = method, use_skills, takes_unrouted
    rule.save()
    after = {
        "method": rule.method,
        "use_skills": rule.use_skills,
        "takes_unrouted": rule.takes_unrouted,
    }
    event_record(
        verb=Verb.ASSIGNMENT_RULE_SET,
        subject=rule,
        actor=actor,
        before={k: v for k, v in before.items() if after[k] != v},
        after={"team": team.name, **{k: v for k, v in after.items() if before[k] != v}},
    )
    return rule


@transaction.atomic
def agent_skill_add(*, user: User, kind: str, value: str, actor: User) -> AgentSkill:
    if not actor.has_perm("desk.assign_ticket"):
        raise ValidationError("Only leads set agents' skills.")
    skill = AgentSkill(user=user, kind=kind, value=value.strip().lower())
    skill.full_clean()
    skill.save()
    event_record(
        verb=Verb.AGENT_SKILL_ADDED,
        subject=skill,
        actor=actor,
        after={"agent": user.get_username(), "kind": kind, "value": skill.value},
    )
    return skill


@transaction.atomic
def agent_skill_remove(*, skill: AgentSkill, actor: User) -> None:
    if not actor.has_perm("desk.assign_ticket"):
        raise ValidationError("Only leads set agents' skills.")
    event_record(
        verb=Verb.AGENT_SKILL_REMOVED,
        subject=skill,
        actor=actor,
        before={"agent": skill.user.get_username(), "kind": skill.kind, "value": skill.value},
    )
    skill.delete()
