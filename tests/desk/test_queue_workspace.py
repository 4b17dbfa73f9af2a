"""The queue's tag filter (with its keyset pages), its match count and its tags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from nextorder.desk import selectors
from nextorder.desk.merge import ticket_merge
from nextorder.desk.models import Ticket, TicketTag
from nextorder.desk.selectors import QueueFilters, QueueSort, tickets_for_queue, tickets_matching
from nextorder.desk.services import ticket_open, ticket_update
from nextorder.desk.tags import (
    tag_get_or_create,
    tag_status_repair,
    tag_status_triggers_drop,
    ticket_tags_add,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def tagged(customer, agent):
    """23 tickets over every status; every third tagged "late", every other "vip"."""
    late = tag_get_or_create(name="late", actor=agent)
    vip = tag_get_or_create(name="vip", actor=agent)
    start = timezone.now() - timedelta(days=3)
    statuses = ["new", "open", "pending", "solved", "closed"]
    for i in range(23):
        ticket = ticket_open(
            customer=customer,
            subject=f"t{i}",
            body_text="x",
            priority=i % 4,
            sent_at=start + timedelta(hours=i // 2),
        )
        Ticket.objects.filter(pk=ticket.pk).update(status=statuses[i % 5])
        tags = ([late] if i % 3 == 0 else []) + ([vip] if i % 2 == 0 else [])
        ticket_tags_add(ticket=ticket, tags=tags, actor=agent)
    return late, vip


@pytest.mark.parametrize("few", [selectors.FEW_TAGGED, 0], ids=["rare tag", "common tag"])
@pytest.mark.parametrize("sort", list(QueueSort))
def test_the_tag_filter_pages_through_exactly_the_tagged_tickets(
    tagged, agent, sort, few, monkeypatch
):
    """A rare tag's tickets are read by id, a common one's by a semi-join: the same pages."""
    monkeypatch.setattr(selectors, "FEW_TAGGED", few)
    late, _vip = tagged
    statuses = tuple(Ticket.Status.values)
    filters = QueueFilters(statuses=statuses, tag_id=late.pk)
    seen, cursor = [], None
    while True:
        page = tickets_for_queue(user=agent, filters=filters, sort=sort, cursor=cursor, limit=3)
        seen += page.tickets
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    expected = set(late.tickets.values_list("pk", flat=True))
    assert [t.pk for t in seen if t.pk in expected] == [t.pk for t in seen]
    assert len(seen) == len(expected) == 8
    count = tickets_matching(user=agent, filters=filters)
    assert (count.count, count.more, str(count)) == (8, False, "8 tickets match")


def test_the_count_is_bounded(tagged, agent):
    active = QueueFilters()
    exact = Ticket.objects.filter(status__in=active.statuses).count()
    assert tickets_matching(user=agent, filters=active).count == exact
    bounded = tickets_matching(user=agent, filters=active, bound=5)
    assert (bounded.count, bounded.more) == (5, True)
    assert str(bounded) == "More than 5 tickets match"


def test_the_page_shows_tags_and_the_count_with_one_query_for_all_tags(client, tagged, agent):
    client.force_login(agent)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("desk:queue"), {"tag": tagged[1].pk})
    html = response.content.decode()
    assert "tickets match" in html and '<span class="tag tag-' in html
    tag_queries = [q for q in captured.captured_queries if '"desk_tag"' in q["sql"]]
    assert len(tag_queries) == 2  # the page's tags (prefetch) and the filter's choices


def _statuses_beside_tags() -> list[tuple[int, str, str]]:
    return sorted(TicketTag.objects.values_list("ticket_id", "ticket_status", "ticket__status"))


def test_a_tags_row_follows_its_tickets_status_whatever_writes_it(tagged, agent, lead):
    """The queue counts a tag's tickets off (tag, status): the status beside each tag row
    is the database's own, after a service, a bulk update, a new tag and a merge."""
    late, vip = tagged
    assert all(mine == theirs for _pk, mine, theirs in _statuses_beside_tags())
    ticket = late.tickets.filter(status="new").first()
    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, status="solved")
    Ticket.objects.filter(status="pending").update(status="open")
    untagged = Ticket.objects.exclude(ticket_tags__tag=vip).filter(status="closed").first()
    ticket_tags_add(ticket=untagged, tags=[vip], actor=agent)
    source = vip.tickets.exclude(ticket_tags__tag=late).filter(status="open").first()
    target = Ticket.objects.filter(status="solved").exclude(ticket_tags__tag=vip).first()
    ticket_merge(
        source=source,
        target=target,
        actor=lead,
        source_version=source.version,
        target_version=target.version,
    )
    target.refresh_from_db()
    rows = _statuses_beside_tags()
    assert all(mine == theirs for _pk, mine, theirs in rows)
    assert (ticket.pk, "solved", "solved") in rows and (untagged.pk, "closed", "closed") in rows
    assert (target.pk, target.status, target.status) in rows
    assert not any(status == "pending" for _pk, status, _theirs in rows)
    for tag in (late, vip):
        for status in Ticket.Status.values:
            filters = QueueFilters(statuses=(status,), tag_id=tag.pk)
            assert tickets_matching(user=agent, filters=filters).count == (
                tag.tickets.filter(status=status).count()
            )


@pytest.mark.skipif(connection.vendor != "sqlite", reason="only SQLite rebuilds drop triggers")
def test_the_status_triggers_come_back_after_a_migration_dropped_them(tagged, agent):
    late, _vip = tagged
    tag_status_triggers_drop(connection)
    Ticket.objects.filter(ticket_tags__tag=late).update(status="closed")
    assert {s for _pk, s, theirs in _statuses_beside_tags() if theirs != s}
    tag_status_repair()
    assert all(mine == theirs for _pk, mine, theirs in _statuses_beside_tags())
    Ticket.objects.filter(ticket_tags__tag=late).update(status="open")
    assert all(mine == theirs for _pk, mine, theirs in _statuses_beside_tags())


def test_only_who_can_act_in_bulk_gets_boxes_to_tick(client, tagged, agent, sales_user):
    client.force_login(sales_user)
    html = client.get(reverse("desk:queue")).content.decode()
    assert 'class="queue no-pick"' in html and 'id="bulk"' not in html
    client.force_login(agent)
    html = client.get(reverse("desk:queue")).content.decode()
    assert '<table class="queue">' in html and 'id="bulk"' in html
