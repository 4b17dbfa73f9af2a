"""Surveys end to end: picked after a ticket is solved, emailed once over a real SMTP
server on loopback, answered once through a signed link; what is refused records nothing."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from urllib.parse import quote

import pytest
from django.core import signing
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.core.models import Event, Verb
from nextorder.followup.links import survey_token, unsubscribe_token
from nextorder.followup.models import FollowupTask, Referral, ReferralAsk, Sending, Survey
from nextorder.followup.services import playbook_run, playbook_stop, surveys_schedule
from nextorder.followup.tasks import referral_ask_deliver, survey_answer_follow, survey_deliver
from nextorder.followup.timing import outside_quiet_hours
from tests.followup.conftest import NOON
from tests.mail_server import smtp_settings
from tests.net import free_port

pytestmark = pytest.mark.django_db


def _links(raw: bytes) -> list[str]:
    text = message_from_bytes(raw, policy=policy.default).get_body(("plain",)).get_content()
    return re.findall(r"http://\S+", text)


def _sent_survey(smtp_server) -> tuple[Survey, bytes]:
    controller, mailbox = smtp_server
    (survey,) = surveys_schedule(now=NOON)
    with smtp_settings(controller.port):
        assert survey_deliver.call(survey.pk) == Sending.SENT
    return survey, mailbox.received[-1]


def test_a_solved_ticket_is_surveyed_once_and_the_email_offers_ratings_and_unsubscribe(
    solved, agent, smtp_server
):
    survey, raw = _sent_survey(smtp_server)
    assert (survey.ticket, survey.agent, survey.to_address) == (solved, agent, "ada@example.com")
    email = message_from_bytes(raw, policy=policy.default)
    assert email["Subject"] == f"How did we do? [#{solved.pk}]"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe_token(solved.customer_id) in email["List-Unsubscribe"]
    links = _links(raw)
    assert sum("csat=" in link for link in links) == 5
    assert sum("nps=" in link for link in links) == 11
    assert any("/followup/unsubscribe/" in link for link in links)
    verbs = set(Event.objects.filter(customer_id=solved.customer_id).values_list("verb", flat=True))
    assert {Verb.SURVEY_SCHEDULED, Verb.SURVEY_SENT} <= verbs


def test_duplicate_runs_and_tasks_send_one_email(solved, smtp_server):
    controller, mailbox = smtp_server
    first = playbook_run(now=NOON)
    again = playbook_run(now=NOON + timedelta(hours=1))
    assert (first.surveys, again.surveys) == (1, 0)
    survey = Survey.objects.get()
    booked = DBTaskResult.objects.filter(task_path=survey_deliver.module_path)
    assert booked.count() == 1
    with smtp_settings(controller.port):
        survey_deliver.call(survey.pk)
        survey_deliver.call(survey.pk)  # a retried task
    assert len(mailbox.received) == 1
    assert Event.objects.filter(verb=Verb.SURVEY_SENT).count() == 1


def test_no_second_survey_for_the_customer_within_the_period(solved, customer, contact, agent):
    surveys_schedule(now=NOON)
    from nextorder.desk.services import ticket_open, ticket_reply

    other = ticket_open(customer=customer, contact=contact, subject="Another", body_text="Hi")
    ticket_reply(ticket=other, author=agent, body="Done", expected_version=1, status="solved")
    other.__class__.objects.filter(pk=other.pk).update(solved_at=NOON + timedelta(days=3))
    assert surveys_schedule(now=NOON + timedelta(days=5)) == []


def test_unsubscribed_and_stopped_customers_get_nothing(solved, customer, lead, smtp_server):
    controller, mailbox = smtp_server
    (survey,) = surveys_schedule(now=NOON)
    response = Client().post(
        reverse("followup:unsubscribe", args=[unsubscribe_token(customer.pk)]),
        {"List-Unsubscribe": "One-Click"},
    )
    assert response.status_code == 200
    with smtp_settings(controller.port):
        assert survey_deliver.call(survey.pk) == Sending.SKIPPED
    assert mailbox.received == []
    # An answer from an unsubscribed promoter opens no referral ask either.
    Survey.objects.filter(pk=survey.pk).update(answered_at=timezone.now(), nps=10)
    survey_answer_follow.call(survey.pk)
    assert not ReferralAsk.objects.exists()
    playbook_stop(customer=customer, actor=lead)
    Survey.objects.all().delete()
    assert playbook_run(now=NOON).surveys == 0
    assert Event.objects.filter(verb=Verb.EMAILS_UNSUBSCRIBED, customer_id=customer.pk).exists()


def test_unsubscribing_by_get_asks_and_changes_nothing(customer):
    response = Client().get(reverse("followup:unsubscribe", args=[unsubscribe_token(customer.pk)]))
    assert response.status_code == 200 and b"Unsubscribe" in response.content
    assert not Event.objects.filter(verb=Verb.EMAILS_UNSUBSCRIBED).exists()
    tampered = unsubscribe_token(customer.pk)[:-2] + "xx"
    response = Client().post(reverse("followup:unsubscribe", args=[tampered]))
    assert response.status_code == 400
    assert not Event.objects.filter(verb=Verb.EMAILS_UNSUBSCRIBED).exists()


def test_a_clicked_rating_opens_the_survey_chosen_and_only_the_post_records(solved, smtp_server):
    survey, raw = _sent_survey(smtp_server)
    four = next(link for link in _links(raw) if link.endswith("csat=4"))
    client = Client(enforce_csrf_checks=True)
    page = client.get(four.removeprefix("http://localhost:8000"))
    assert page.status_code == 200
    assert re.search(rb'value="4"[^>]*checked', page.content)
    survey.refresh_from_db()
    assert survey.answered_at is None  # a mail scanner fetching the link records nothing
    token = client.cookies["csrftoken"].value
    saved = client.post(
        four.removeprefix("http://localhost:8000").split("?")[0],
        {"csat": "4", "nps": "8", "comment": "Quick and kind.", "csrfmiddlewaretoken": token},
    )
    assert saved.status_code == 200 and b"Thank you" in saved.content
    survey.refresh_from_db()
    assert (survey.csat, survey.nps, survey.comment, survey.standing) == (
        4,
        8,
        "Quick and kind.",
        "passive",
    )


def _post(token: str, **form: str):
    return Client().post(reverse("followup:survey", args=[token]), form)


def test_tampered_expired_and_reused_links_are_refused_and_record_nothing(solved, smtp_server):
    survey, _raw = _sent_survey(smtp_server)
    token = survey_token(survey.pk)
    tampered = token.replace(f"{survey.pk}:", f"{survey.pk + 1}:", 1)
    for response in (
        _post(tampered, csat="5"),
        Client().get(reverse("followup:survey", args=[tampered])),
    ):
        assert response.status_code == 400 and b"not valid" in response.content
    survey.refresh_from_db()
    assert survey.answered_at is None

    signed_15_days_ago = signing.Signer(salt="nextorder.followup.survey").sign(
        f"{survey.pk}:{signing.b62_encode(int(time.time()) - 15 * 86400)}"
    )
    response = _post(signed_15_days_ago, csat="5")
    assert response.status_code == 410 and b"expired" in response.content
    survey.refresh_from_db()
    assert survey.answered_at is None

    assert _post(token, csat="2").status_code == 200
    response = _post(token, csat="5", comment="Changed my mind")
    assert response.status_code == 410 and b"answered already" in response.content
    survey.refresh_from_db()
    assert (survey.csat, survey.comment) == (2, "")
    assert Event.objects.filter(verb=Verb.SURVEY_ANSWERED).count() == 1


def test_a_rating_out_of_range_is_refused_with_the_form(solved, smtp_server):
    survey, _raw = _sent_survey(smtp_server)
    response = _post(survey_token(survey.pk), csat="6", nps="11")
    assert response.status_code == 400
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_a_detractor_gets_a_recovery_task_and_a_promoter_a_referral_ask(
    solved, customer, smtp_server, make_user
):
    controller, mailbox = smtp_server
    survey, _raw = _sent_survey(smtp_server)
    assert _post(survey_token(survey.pk), nps="3", comment="Too slow").status_code == 200
    (follow,) = DBTaskResult.objects.filter(task_path=survey_answer_follow.module_path)
    survey_answer_follow.call(*follow.args_kwargs["args"])
    survey_answer_follow.call(*follow.args_kwargs["args"])  # once only
    task = FollowupTask.objects.get()
    assert (task.kind, task.role, task.survey) == (FollowupTask.Kind.RECOVERY, "lead", survey)
    assert timedelta(0) < task.due_at - survey.ticket.solved_at
    lead = Client()
    lead.force_login(make_user("lead9", role="lead"))
    listed = lead.get(reverse("followup:tasks")).content.decode()
    assert "Too slow" in listed and reverse("desk:ticket", args=[survey.ticket_id]) in listed

    Survey.objects.filter(pk=survey.pk).update(nps=10, csat=5)
    playbook_run(now=NOON)
    ask = ReferralAsk.objects.get()
    with smtp_settings(controller.port):
        referral_ask_deliver.call(ask.pk)
        referral_ask_deliver.call(ask.pk)
    assert len(mailbox.received) == 2  # the survey and one referral ask
    link = next(link for link in _links(mailbox.received[-1]) if "/followup/referral/" in link)
    assert customer.followup.referral_code in link


@override_settings(NEXTORDER_QUIET_HOURS="21:00-08:00")
def test_quiet_hours_push_sending_to_their_end():
    late = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)
    assert outside_quiet_hours(late) == datetime(2026, 6, 11, 8, 0, tzinfo=UTC)
    early = datetime(2026, 6, 10, 6, 0, tzinfo=UTC)
    assert outside_quiet_hours(early) == datetime(2026, 6, 10, 8, 0, tzinfo=UTC)
    assert outside_quiet_hours(NOON) == NOON


def test_a_survey_that_cannot_be_sent_is_tried_again_later(solved):
    (survey,) = surveys_schedule(now=NOON)
    with smtp_settings(free_port()):  # nothing listens there
        assert survey_deliver.call(survey.pk) == Sending.QUEUED
    survey.refresh_from_db()
    assert survey.attempts == 1 and "Error" in survey.last_error
    retries = DBTaskResult.objects.filter(task_path=survey_deliver.module_path)
    assert retries.count() == 2  # the first booking and its retry, a minute later


def test_an_unsubscribed_detractor_still_gets_a_call_but_no_email(solved, customer):
    (survey,) = surveys_schedule(now=NOON)
    Client().post(reverse("followup:unsubscribe", args=[unsubscribe_token(customer.pk)]))
    Survey.objects.filter(pk=survey.pk).update(answered_at=timezone.now(), nps=2, csat=5)
    survey_answer_follow.call(survey.pk)
    assert FollowupTask.objects.get().kind == FollowupTask.Kind.RECOVERY
    assert not ReferralAsk.objects.exists()  # CSAT 5 with NPS 2 is a detractor, not asked


@pytest.mark.parametrize("code", ["\x00", "abc\x00def", "x" * 17, "ü-code", "a b"])
def test_a_referral_link_that_is_no_code_of_ours_is_a_plain_404(client, code):
    """Refused before the database (PostgreSQL refuses a NUL in a text parameter)."""
    response = client.post(f"/followup/referral/{quote(code)}/", {"email": "a@example.com"})
    assert response.status_code == 404
    assert not Referral.objects.exists()
