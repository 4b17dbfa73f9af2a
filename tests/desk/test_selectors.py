from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from nextorder.core.models import Team
from nextorder.desk.models import Ticket, TicketSla
from nextorder.desk.selectors import (
    ASSIGNEE_ME,
    ASSIGNEE_NOBODY,
    BadCursor,
    QueueFilters,
    QueueSort,
    tickets_for_queue,
    tier_of,
)
from nextorder.desk.services import ticket_open

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_tickets(customer, agent):
    team = Team.objects.create(name="Returns")
    start = timezone.now() - timedelta(days=30)
    statuses = ["new", "open", "pending", "solved", "closed"]
    made = []
    for i in range(53):
        ticket = ticket_open(
            customer=customer,
            subject=f"t{i}",
            body_text="x",
            priority=i % 4,
            team=team if i % 3 == 0 else None,
            # Several tickets share a timestamp: the id must break ties.
            sent_at=start + timedelta(hours=i // 2),
        )
        Ticket.objects.filter(pk=ticket.pk).update(
            status=statuses[i % 5],
            assignee=agent if i % 4 == 0 else None,
            value_at_risk=Decimal((i * 7) % 5 * 10) + Decimal("0.25"),
        )
        made.append(ticket)
    return team


def walk(user, filters, sort, limit):
    seen, cursor = [], None
    while True:
        page = tickets_for_queue(user=user, filters=filters, sort=sort, cursor=cursor, limit=limit)
        seen.extend(page.tickets)
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("sort", list(QueueSort))
@pytest.mark.parametrize("limit", [1, 7, 50])
def test_keyset_pages_visit_every_active_ticket_once_in_order(many_tickets, agent, sort, limit):
    seen = walk(agent, QueueFilters(), sort, limit)

    expected = Ticket.objects.filter(status__in=["new", "open", "pending"])
    assert [t.id for t in seen] == [t.id for t in sorted(expected, key=_KEYS[sort])]


# Waiting on us, then on the customer, then done; within each, the sort's order.
_KEYS = {
    QueueSort.PRIORITY: lambda t: (tier_of(t.status), -t.priority, t.created_at, t.id),
    QueueSort.VALUE_AT_RISK: lambda t: (
        tier_of(t.status),
        -t.value_at_risk,
        -t.priority,
        t.created_at,
        t.id,
    ),
    QueueSort.AGE: lambda t: (tier_of(t.status), t.created_at, t.id),
    # Soonest due first, tickets with no running clock last.
    QueueSort.DUE: lambda t: (
        tier_of(t.status),
        _due(t) is None,
        _due(t) or datetime.min.replace(tzinfo=UTC),
        t.id,
    ),
}


def _due(ticket: Ticket) -> datetime | None:
    return TicketSla.objects.filter(ticket=ticket).values_list("due_at", flat=True).first()


@pytest.mark.parametrize("sort", list(QueueSort))
def test_tickets_waiting_on_the_customer_come_after_those_waiting_on_us(many_tickets, agent, sort):
    seen = walk(agent, QueueFilters(statuses=tuple(Ticket.Status.values)), sort, 4)
    tiers = [tier_of(t.status) for t in seen]
    assert tiers == sorted(tiers) and set(tiers) == {0, 1, 2}
    # An urgent pending ticket waits below a low open one.
    assert seen.index(next(t for t in seen if t.status == "pending")) > max(
        seen.index(t) for t in seen if t.status in ("new", "open")
    )


@pytest.mark.parametrize("sort", list(QueueSort))
@pytest.mark.parametrize(
    "statuses",
    [("open", "solved"), ("closed", "new", "solved"), ("pending", "pending", "closed"), ("new",)],
)
@pytest.mark.parametrize("limit", [1, 5])
def test_keyset_pages_over_any_statuses_visit_each_ticket_once_in_order(
    many_tickets, agent, sort, statuses, limit
):
    """Other choices than the active statuses are read status by status and merged."""
    seen = walk(agent, QueueFilters(statuses=statuses), sort, limit)

    expected = sorted(Ticket.objects.filter(status__in=statuses), key=_KEYS[sort])
    assert [t.id for t in seen] == [t.id for t in expected]


@pytest.mark.parametrize("sort", list(QueueSort))
def test_keyset_pages_with_team_and_assignee_filters(many_tickets, agent, sort):
    for filters in (
        QueueFilters(team_id=many_tickets.pk),
        QueueFilters(assignee=ASSIGNEE_NOBODY, statuses=("open", "closed")),
        QueueFilters(assignee=ASSIGNEE_ME, team_id=many_tickets.pk, statuses=("new", "solved")),
    ):
        seen = walk(agent, filters, sort, 3)

        expected = Ticket.objects.filter(status__in=filters.statuses)
        if filters.team_id is not None:
            expected = expected.filter(team_id=filters.team_id)
        if filters.assignee == ASSIGNEE_NOBODY:
            expected = expected.filter(assignee__isnull=True)
        elif filters.assignee == ASSIGNEE_ME:
            expected = expected.filter(assignee=agent)
        assert seen, filters
        assert [t.id for t in seen] == [t.id for t in sorted(expected, key=_KEYS[sort])]


def test_a_merged_page_carries_what_its_rows_show(many_tickets, agent):
    """The console's rows show the customer and the assignee; the API's also the team and
    the SLA clocks. Neither costs a query per row, and the console loads no clocks."""
    filters = QueueFilters(statuses=("new", "solved"))
    page = tickets_for_queue(user=agent, filters=filters, sort=QueueSort.AGE, limit=5)
    listed = tickets_for_queue(
        user=agent, filters=filters, sort=QueueSort.AGE, limit=5, with_clocks=True
    )

    assert len(page.tickets) == 5 and page.next_cursor
    assert [t.pk for t in listed.tickets] == [t.pk for t in page.tickets]
    with CaptureQueriesContext(connection) as queries:
        for ticket in page.tickets:
            assert ticket.customer.name
            assert ticket.assignee is None or ticket.assignee.username
        for ticket in listed.tickets:
            assert ticket.team is None or ticket.team.name
            clocks = _sla_or_none(ticket)
            assert clocks is None or clocks.policy is None or clocks.policy.name
    assert len(queries) == 0
    assert all("sla" not in t._state.fields_cache for t in page.tickets)


def _sla_or_none(ticket: Ticket) -> TicketSla | None:
    try:
        return ticket.sla
    except TicketSla.DoesNotExist:
        return None


def test_filters(many_tickets, agent):
    mine = walk(agent, QueueFilters(assignee=ASSIGNEE_ME), QueueSort.AGE, 10)
    assert mine and all(t.assignee_id == agent.pk and t.is_active for t in mine)
    nobody = walk(agent, QueueFilters(assignee=ASSIGNEE_NOBODY), QueueSort.AGE, 10)
    assert nobody and all(t.assignee_id is None for t in nobody)
    team = walk(agent, QueueFilters(team_id=many_tickets.pk), QueueSort.AGE, 10)
    assert team and all(t.team_id == many_tickets.pk for t in team)
    solved = walk(agent, QueueFilters(statuses=("solved",)), QueueSort.PRIORITY, 4)
    assert len(solved) == Ticket.objects.filter(status="solved").count()


def test_a_page_row_carries_the_customers_spend(many_tickets, agent, customer):
    page = tickets_for_queue(user=agent, filters=QueueFilters(), limit=5)
    assert page.tickets[0].customer.total_spend == customer.total_spend == 55.5


@pytest.mark.parametrize("cursor", ["garbage", "WyJhZ2UiXQ==", "WyJhZ2UiLCAieCIsIDFd"])
def test_a_cursor_not_made_here_is_refused(many_tickets, agent, cursor):
    with pytest.raises(BadCursor):
        tickets_for_queue(user=agent, filters=QueueFilters(), sort=QueueSort.AGE, cursor=cursor)
