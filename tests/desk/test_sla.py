"""Service-level clocks: policies, the clocks the desk services move, the recompute after
a policy change, and the worker's warnings and escalations (run twice, and stopped
half-way)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.core.dispatch import _listeners
from nextorder.core.models import BusinessCalendar, Event, Team, Verb
from nextorder.core.services import (
    api_token_create,
    calendar_create,
    calendar_update,
    team_calendar_set,
)
from nextorder.desk.models import ClockState, ClockStep, SlaPolicy, Ticket, TicketSla
from nextorder.desk.selectors import DUE_SOON, QueueFilters, QueueSort, tickets_for_queue
from nextorder.desk.services import (
    ticket_open,
    ticket_receive_message,
    ticket_reply,
    ticket_update,
)
from nextorder.desk.sla import (
    PolicyBook,
    Schedules,
    SlaTargets,
    _batch_read,
    _recompute_frame,
    sla_clocks_check,
    sla_policy_create,
    sla_policy_update,
    sla_recompute_open,
    ticket_targets,
)
from nextorder.desk.tasks import send_notice, sla_check, sla_recompute
from nextorder.sales.services import agreement_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def policies(manager):
    urgent = sla_policy_create(
        actor=manager,
        name="Urgent",
        position=10,
        priorities=[Ticket.Priority.URGENT],
        first_response_minutes=60,
        resolution_minutes=8 * 60,
    )
    normal = sla_policy_create(
        actor=manager,
        name="Everyone else",
        position=20,
        first_response_minutes=24 * 60,
        next_response_minutes=8 * 60,
        resolution_minutes=5 * 24 * 60,
    )
    return urgent, normal


def clocks(ticket: Ticket) -> TicketSla:
    return TicketSla.objects.select_related("policy").get(ticket=ticket)


def sla_verbs(ticket: Ticket) -> list[str]:
    return list(
        Event.objects.filter(subject_id=ticket.pk, verb__startswith="sla.")
        .order_by("occurred_at", "id")
        .values_list("verb", flat=True)
    )


def notices() -> list[list[object]]:
    return [
        task.args_kwargs["args"]
        for task in DBTaskResult.objects.filter(task_path=send_notice.module_path).order_by(
            "enqueued_at"
        )
    ]


def test_a_ticket_opens_with_its_policys_clocks_running(policies, customer, contact):
    ticket = ticket_open(customer=customer, contact=contact, subject="Hello", body_text="Hi")
    row = clocks(ticket)
    assert row.policy == policies[1]
    assert row.first_response_state == ClockState.RUNNING
    assert row.first_response_due_at == ticket.created_at + timedelta(hours=24)
    assert row.first_response_warn_at == ticket.created_at + timedelta(hours=18)
    assert row.resolution_due_at == ticket.created_at + timedelta(days=5)
    assert row.next_response_state == ClockState.OFF
    assert row.due_at == row.first_response_due_at
    assert row.next_check_at == row.first_response_warn_at


def test_the_first_matching_policy_in_order_wins(policies, customer, contact, agent):
    ticket = ticket_open(
        customer=customer,
        contact=contact,
        subject="Down",
        body_text="Help",
        priority=Ticket.Priority.URGENT,
    )
    # An agent-set priority is the agent's; a customer's ticket goes by the rule, so set it.
    ticket_update(ticket=ticket, actor=agent, expected_version=1, priority=Ticket.Priority.URGENT)
    row = clocks(ticket)
    assert row.policy == policies[0]
    assert row.first_response_due_at == ticket.created_at + timedelta(hours=1)


def test_a_service_agreement_overrides_the_policy_clock_by_clock(policies):
    agreement = SlaTargets(first_response=15 * 60)
    targets = ticket_targets(policy=policies[1], agreement=agreement)
    assert targets == SlaTargets(
        first_response=15 * 60, next_response=8 * 3600, resolution=5 * 24 * 3600
    )
    assert ticket_targets(policy=policies[1], agreement=None).first_response == 24 * 3600


def test_a_customer_with_a_service_agreement_gets_its_promised_times(
    policies, customer, contact, sales_user
):
    today = timezone.localdate()
    agreement_create(
        customer=customer,
        name="Care plus",
        starts_on=today - timedelta(days=30),
        ends_on=today + timedelta(days=300),
        first_response_minutes=30,
        actor=sales_user,
    )
    agreement_create(  # ended: promises nothing any more
        customer=customer,
        name="Old care",
        starts_on=today - timedelta(days=400),
        ends_on=today - timedelta(days=1),
        first_response_minutes=5,
        actor=sales_user,
    )
    ticket = ticket_open(customer=customer, contact=contact, subject="Hello", body_text="Hi")
    row = clocks(ticket)
    assert row.first_response_due_at == ticket.created_at + timedelta(minutes=30)
    assert row.resolution_due_at == ticket.created_at + timedelta(days=5)  # the policy's


def test_a_reply_in_time_meets_the_first_response(policies, ticket, agent):
    ticket_reply(ticket=ticket, author=agent, body="On it", expected_version=ticket.version)
    row = clocks(ticket)
    assert row.first_response_state == ClockState.MET
    assert sla_verbs(ticket) == ["sla.met"]
    assert row.due_at == row.resolution_due_at


def test_a_late_reply_breaches_and_the_customer_starts_the_next_response(policies, ticket, agent):
    late = ticket.created_at + timedelta(hours=30)
    ticket_reply(
        ticket=ticket,
        author=agent,
        body="Sorry",
        expected_version=ticket.version,
        status=Ticket.Status.OPEN,
        sent_at=late,
    )
    assert clocks(ticket).first_response_state == ClockState.BREACHED
    wrote = late + timedelta(hours=1)
    ticket_receive_message(ticket=ticket, contact=ticket.contact, body_text="And?", sent_at=wrote)
    row = clocks(ticket)
    assert row.next_response_state == ClockState.RUNNING
    assert row.next_response_due_at == wrote + timedelta(hours=8)
    assert sla_verbs(ticket) == ["sla.breached"]


def test_pending_pauses_the_clocks_and_the_pause_moves_the_due_time(policies, ticket, agent):
    opened = ticket.created_at
    ticket_update(
        ticket=ticket,
        actor=agent,
        expected_version=ticket.version,
        status=Ticket.Status.PENDING,
        occurred_at=opened + timedelta(hours=2),
    )
    row = clocks(ticket)
    assert row.first_response_state == ClockState.PAUSED
    assert row.due_at is None and row.next_check_at is None
    ticket_receive_message(
        ticket=ticket,
        contact=ticket.contact,
        body_text="Any news?",
        sent_at=opened + timedelta(hours=5),
    )
    row = clocks(ticket)
    assert row.first_response_state == ClockState.RUNNING
    assert row.first_response_paused_seconds == 3 * 3600
    assert row.first_response_due_at == opened + timedelta(hours=27)
    # The customer's message continues the first response: no next response yet.
    assert row.next_response_state == ClockState.OFF


def test_solving_meets_the_resolution(policies, ticket, agent):
    ticket_reply(ticket=ticket, author=agent, body="Fixed", expected_version=ticket.version)
    ticket_update(
        ticket=ticket, actor=agent, expected_version=ticket.version, status=Ticket.Status.SOLVED
    )
    row = clocks(ticket)
    assert row.resolution_state == ClockState.MET
    assert row.status == Ticket.Status.SOLVED
    assert row.due_at is None and row.next_check_at is None
    assert sla_verbs(ticket) == ["sla.met", "sla.met"]


def test_policies_refuse_unknown_choices(manager):
    with pytest.raises(ValidationError):
        sla_policy_create(actor=manager, name="Odd", channels=["pigeon"])
    with pytest.raises(ValidationError):
        sla_policy_create(actor=manager, name="Odd", pause_statuses=["solved"])


def test_a_policy_change_books_a_recompute_that_moves_open_tickets(policies, ticket, manager):
    normal = policies[1]
    sla_policy_update(
        policy=normal, actor=manager, expected_version=normal.version, first_response_minutes=120
    )
    booked = DBTaskResult.objects.filter(task_path=sla_recompute.module_path)
    # One per policy created, and one for the change.
    assert sorted(task.args_kwargs["args"][0] for task in booked) == sorted(
        [policies[0].pk, normal.pk, normal.pk]
    )
    assert clocks(ticket).first_response_due_at == ticket.created_at + timedelta(hours=24)
    sla_recompute.call(normal.pk)
    assert clocks(ticket).first_response_due_at == ticket.created_at + timedelta(hours=2)
    assert Event.objects.filter(verb=Verb.SLA_RECOMPUTED).count() == 1
    with pytest.raises(ValidationError):  # a stale form
        sla_policy_update(policy=normal, actor=manager, expected_version=1, name="Other")


def test_the_recompute_goes_in_batches_and_rematches_each_ticket(policies, customer, contact):
    tickets = [
        ticket_open(customer=customer, contact=contact, subject=f"T{n}", body_text="x")
        for n in range(7)
    ]
    SlaPolicy.objects.filter(pk=policies[1].pk).update(active=False)
    report = sla_recompute_open(batch_size=3)
    assert (report.tickets, report.batches) == (7, 3)
    for ticket in tickets:
        row = clocks(ticket)
        assert row.policy is None
        assert row.first_response_due_at is None and row.due_at is None
    SlaPolicy.objects.filter(pk=policies[1].pk).update(active=True)
    sla_recompute_open(batch_size=3)
    assert {clocks(t).due_at for t in tickets} == {
        t.created_at + timedelta(hours=24) for t in tickets
    }


@pytest.fixture
def team_with_lead(lead, agent):
    team = Team.objects.create(name="Orders")
    team.members.add(lead, agent)
    lead.email = "lead@example.com"
    lead.save()
    agent.email = "agent@example.com"
    agent.save()
    return team


def _late_tickets(customer, contact, agent, team, count):
    tickets = []
    for n in range(count):
        ticket = ticket_open(
            customer=customer,
            contact=contact,
            subject=f"Late {n}",
            body_text="x",
            team=team,
            sent_at=timezone.now() - timedelta(hours=25),
        )
        ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, assignee=agent)
        tickets.append(ticket)
    return tickets


def test_the_worker_warns_then_escalates_once_each(
    policies, customer, contact, agent, team_with_lead
):
    ticket = ticket_open(
        customer=customer,
        contact=contact,
        subject="Slow",
        body_text="x",
        team=team_with_lead,
        sent_at=timezone.now() - timedelta(hours=20),
    )
    ticket_update(ticket=ticket, actor=agent, expected_version=ticket.version, assignee=agent)
    assert sla_check.call()["warned"] == 1
    assert sla_check.call()["warned"] == 0
    assert clocks(ticket).first_response_step == ClockStep.WARNED
    assert notices() == [
        ["agent@example.com", notices()[0][1], notices()[0][2]],
    ]
    assert "first response" in str(notices()[0][1])

    report = sla_clocks_check(now=timezone.now() + timedelta(hours=5))
    assert (report.warned, report.escalated) == (0, 1)
    assert sla_clocks_check(now=timezone.now() + timedelta(hours=5)).escalated == 0
    ticket.refresh_from_db()
    assert ticket.priority == Ticket.Priority.HIGH
    assert "first response" in ticket.priority_reason
    assert sla_verbs(ticket) == ["sla.warned", "sla.breached"]
    breach_notices = [n for n in notices() if "missed" in str(n[1])]
    assert sorted(n[0] for n in breach_notices) == ["agent@example.com", "lead@example.com"]
    # The check books its successor, one at most.
    assert DBTaskResult.objects.filter(task_path=sla_check.module_path).count() == 1


def test_a_breach_may_hand_the_ticket_to_the_teams_lead(
    policies, customer, contact, agent, lead, manager, team_with_lead
):
    normal = policies[1]
    sla_policy_update(
        policy=normal, actor=manager, expected_version=normal.version, reassign_on_breach=True
    )
    [ticket] = _late_tickets(customer, contact, agent, team_with_lead, 1)
    sla_clocks_check()
    ticket.refresh_from_db()
    assert ticket.assignee == lead
    breach = Event.objects.get(verb=Verb.SLA_BREACHED)
    assert (breach.before["assignee"], breach.after["assignee"]) == ("agent1", "lead1")


def test_a_worker_stopped_half_way_misses_nothing_and_repeats_nothing(
    policies, customer, contact, agent, team_with_lead
):
    tickets = _late_tickets(customer, contact, agent, team_with_lead, 3)
    crashed_on = tickets[1].pk

    def crash(events):
        if any(event.subject_id == crashed_on for event in events):
            raise RuntimeError("the worker died here")

    _listeners[Verb.SLA_BREACHED].append(crash)
    try:
        with pytest.raises(RuntimeError):
            sla_clocks_check()
    finally:
        _listeners[Verb.SLA_BREACHED].remove(crash)
    # The first ticket's escalation committed; the second rolled back whole.
    assert [sla_verbs(t) for t in tickets] == [["sla.breached"], [], []]
    assert clocks(tickets[1]).first_response_step == ClockStep.NONE
    assert sla_clocks_check().escalated == 2
    assert sla_clocks_check().escalated == 0
    assert [sla_verbs(t) for t in tickets] == [["sla.breached"]] * 3
    assert [Ticket.objects.get(pk=t.pk).priority for t in tickets] == [Ticket.Priority.HIGH] * 3
    # Each breach mailed the assignee and the lead once.
    assert len(notices()) == 3 * 2


# ---------------------------------------------------------------------------------------
# Business hours: the policy's calendar, else the team's, else round the clock.

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE_HOURS = (((time(9), time(12)), (time(13), time(17))),) * 5 + ((), ())


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in June 2026 in Berlin (1 June 2026 is a Monday)."""
    return datetime(2026, 6, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def office(manager) -> BusinessCalendar:
    return calendar_create(
        name="Office", time_zone="Europe/Berlin", weekly=OFFICE_HOURS, actor=manager
    )


def test_a_clock_on_office_hours_runs_through_the_weekend_closed(
    office, manager, customer, contact
):
    sla_policy_create(actor=manager, name="Office", first_response_minutes=120, calendar=office)
    # Friday 16:00: one open hour on Friday, the second on Monday from 09:00.
    ticket = ticket_open(
        customer=customer, contact=contact, subject="Friday", body_text="x", sent_at=berlin(5, 16)
    )
    row = clocks(ticket)
    assert row.first_response_due_at == berlin(8, 10)
    # Three quarters of two hours: 90 minutes, the last 30 of them on Monday.
    assert row.first_response_warn_at == berlin(8, 9, 30)


def test_without_a_policy_calendar_the_clock_follows_the_teams(office, manager, customer, contact):
    team = Team.objects.create(name="Day shift")
    team_calendar_set(team=team, calendar=office, actor=manager)
    sla_policy_create(actor=manager, name="Day", first_response_minutes=60)
    # Tuesday 22:00: closed for the night; due an hour after Wednesday's opening, with the
    # lunch break skipped by a ticket opened at 11:30.
    night = ticket_open(
        customer=customer,
        contact=contact,
        subject="Night",
        body_text="x",
        team=team,
        sent_at=berlin(2, 22),
    )
    lunch = ticket_open(
        customer=customer,
        contact=contact,
        subject="Lunch",
        body_text="x",
        team=team,
        sent_at=berlin(3, 11, 30),
    )
    no_team = ticket_open(
        customer=customer, contact=contact, subject="Anyone", body_text="x", sent_at=berlin(2, 22)
    )
    assert clocks(night).first_response_due_at == berlin(3, 10)
    assert clocks(lunch).first_response_due_at == berlin(3, 13, 30)
    assert clocks(no_team).first_response_due_at == berlin(2, 23)


def test_a_pause_counts_only_the_open_hours_it_covers(office, manager, customer, contact, agent):
    sla_policy_create(actor=manager, name="Office", resolution_minutes=8 * 60, calendar=office)
    ticket = ticket_open(
        customer=customer, contact=contact, subject="Wait", body_text="x", sent_at=berlin(1, 9)
    )
    ticket_update(
        ticket=ticket,
        actor=agent,
        expected_version=ticket.version,
        status=Ticket.Status.PENDING,
        occurred_at=berlin(1, 16, 30),
    )
    # Back on Wednesday 10:00: paused 30 minutes on Monday, 7 hours on Tuesday, 1 on Wednesday.
    ticket_receive_message(
        ticket=ticket, contact=ticket.contact, body_text="Here", sent_at=berlin(3, 10)
    )
    row = clocks(ticket)
    assert row.resolution_paused_seconds == int(8.5 * 3600)
    # 8 open hours after Monday 09:00 is Tuesday 10:00; the pause moves it 8.5 open hours on.
    assert row.resolution_due_at == berlin(3, 11, 30)


def test_a_calendar_change_recomputes_the_clocks_running_in_it(office, manager, customer, contact):
    policy = sla_policy_create(actor=manager, name="Office", first_response_minutes=120)
    ticket = ticket_open(
        customer=customer, contact=contact, subject="Friday", body_text="x", sent_at=berlin(5, 16)
    )
    assert clocks(ticket).first_response_due_at == berlin(5, 18)
    sla_policy_update(
        policy=policy, actor=manager, expected_version=policy.version, calendar=office
    )
    sla_recompute_open()
    assert clocks(ticket).first_response_due_at == berlin(8, 10)
    # Open on Saturday mornings from now on: the worker is booked to recompute.
    calendar_update(
        calendar=office, weekly=(*OFFICE_HOURS[:5], ((time(9), time(12)),), ()), actor=manager
    )
    booked = DBTaskResult.objects.filter(task_path=sla_recompute.module_path)
    assert [None, Verb.CALENDAR_CHANGED] in [task.args_kwargs["args"] for task in booked]
    sla_recompute.call(None, Verb.CALENDAR_CHANGED)
    assert clocks(ticket).first_response_due_at == berlin(6, 10)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the row-version guard is PostgreSQL's xmin"
)
def test_the_recompute_leaves_a_row_someone_wrote_since_it_was_read(
    manager, customer, contact, agent
):
    policy = sla_policy_create(actor=manager, name="All", first_response_minutes=60)
    ticket = ticket_open(customer=customer, contact=contact, subject="Race", body_text="x")
    sla_policy_update(
        policy=policy, actor=manager, expected_version=policy.version, first_response_minutes=30
    )
    read = _batch_read(after=-1, limit=10)
    # An agent answers between the recompute's read and its write.
    ticket_reply(ticket=ticket, author=agent, body="Done", expected_version=ticket.version)
    written, again = _recompute_frame(read, book=PolicyBook.current(), schedules=Schedules())
    assert (written, again) == (0, [ticket.pk])
    row = clocks(ticket)
    assert row.first_response_state == ClockState.MET
    # Met against the target it ran under, not overwritten with times read before.
    assert row.first_response_due_at == ticket.created_at + timedelta(minutes=60)
    assert row.due_at == row.resolution_due_at is None


# ---------------------------------------------------------------------------------------
# The console: the queue's Due column, sort and filter; the ticket page's clocks.


def _due_in(customer, contact, minutes: int) -> Ticket:
    """A ticket whose first response (target 60 min) falls due `minutes` from now."""
    return ticket_open(
        customer=customer,
        contact=contact,
        subject=f"Due in {minutes}",
        body_text="x",
        sent_at=timezone.now() + timedelta(minutes=minutes - 60),
    )


def test_the_queue_sorts_by_due_time_page_by_page_with_no_clock_last(
    manager, customer, contact, agent
):
    sla_policy_create(
        actor=manager, name="Web", channels=[Ticket.Channel.EMAIL], first_response_minutes=60
    )
    later, overdue, soon = (_due_in(customer, contact, m) for m in (300, -30, 20))
    no_clock = ticket_open(
        customer=customer, contact=contact, subject="Phone", body_text="x", channel="phone"
    )
    seen, cursor = [], None
    while True:
        page = tickets_for_queue(
            user=agent, filters=QueueFilters(), sort=QueueSort.DUE, cursor=cursor, limit=1
        )
        seen += [t.pk for t in page.tickets]
        if not (cursor := page.next_cursor):
            break
    assert seen == [overdue.pk, soon.pk, later.pk, no_clock.pk]
    within = tickets_for_queue(
        user=agent, filters=QueueFilters(due_within=DUE_SOON), sort=QueueSort.DUE
    )
    assert [t.pk for t in within.tickets] == [overdue.pk, soon.pk]


def test_the_queue_and_the_ticket_page_show_the_clocks(client, manager, customer, contact, agent):
    sla_policy_create(actor=manager, name="Web", first_response_minutes=60, resolution_minutes=600)
    overdue = _due_in(customer, contact, -30)
    client.force_login(agent)
    queue = client.get(reverse("desk:queue"), {"sort": "due", "due": "soon"}).content.decode()
    assert 'class="small overdue" data-label="Due"' in queue
    assert "30 min overdue" in queue or "31 min overdue" in queue
    ticket_reply(
        ticket=overdue,
        author=agent,
        body="Sorry",
        expected_version=overdue.version,
        status=Ticket.Status.PENDING,
    )
    page = client.get(reverse("desk:ticket", args=[overdue.pk])).content.decode()
    assert "First response</strong> breached" in page
    assert "Resolution</strong> paused" in page


def test_the_api_carries_the_clocks(client, manager, customer, contact, agent):
    sla_policy_create(actor=manager, name="Web", first_response_minutes=60)
    ticket = _due_in(customer, contact, 20)
    _token, secret = api_token_create(user=agent, name="t", actor=manager)
    answer = client.get(
        f"/api/v1/tickets/{ticket.pk}", headers={"Authorization": f"Bearer {secret}"}
    ).json()
    assert "sla" in answer, answer
    assert answer["sla"]["policy"] == "Web"
    assert answer["sla"]["first_response"]["state"] == "running"
    assert answer["sla"]["first_response"]["due_at"] == answer["sla"]["due_at"]
    assert answer["sla"]["next_response"] == {"state": "", "started_at": None, "due_at": None}


def test_the_policies_page_names_what_each_policy_applies_to(client, manager):
    sla_policy_create(
        actor=manager,
        name="Big accounts",
        priorities=[Ticket.Priority.HIGH, Ticket.Priority.URGENT],
        channels=[Ticket.Channel.EMAIL],
        customer_kind="company",
        top_value_only=True,
        first_response_minutes=60,
    )
    sla_policy_create(actor=manager, name="Everyone", first_response_minutes=600)
    client.force_login(manager)

    page = client.get(reverse("desk:sla_policies")).content.decode()

    assert "Urgent, High; Email; companies; top value" in page
    assert "any priority" in page and "priority 3" not in page
