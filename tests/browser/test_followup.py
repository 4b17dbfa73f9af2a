"""The survey as a customer and the staff see it: a rating clicked in the emailed
survey (received over SMTP on loopback), saved with one more click, shown to the agent
on the ticket; a detractor's answer opens a recovery task on the lead's list."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_reply
from nextorder.followup.models import FollowupTask, Survey
from nextorder.followup.services import surveys_schedule
from nextorder.followup.tasks import survey_answer_follow, survey_deliver
from tests.browser.conftest import require_chromium
from tests.browser.test_console import log_in, page  # noqa: F401 - the fixture
from tests.mail_server import smtp_settings

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
require_chromium()


def _emailed_survey(ticket, agent, smtp_server, live_server) -> str:
    """Solve the ticket, run the playbook a day later, send the survey; its text."""
    controller, mailbox = smtp_server
    ticket_reply(ticket=ticket, author=agent, body="Sorted.", expected_version=1, status="solved")
    Ticket.objects.filter(pk=ticket.pk).update(solved_at=timezone.now() - timedelta(days=2))
    with smtp_settings(controller.port), pytest.MonkeyPatch.context() as patch:
        from django.conf import settings

        patch.setattr(settings, "NEXTORDER_SITE_URL", live_server.url)
        patch.setattr(settings, "NEXTORDER_QUIET_HOURS", "00:00-00:00")
        (survey,) = surveys_schedule()
        survey_deliver.call(survey.pk)
    email = message_from_bytes(mailbox.received[-1], policy=policy.default)
    return email.get_body(("plain",)).get_content()


def test_a_customer_rates_from_the_email_and_the_agent_sees_it_on_the_ticket(
    agent,
    lead,
    ticket,
    smtp_server,
    live_server,
    browser,
    page,  # noqa: F811
):
    text = _emailed_survey(ticket, agent, smtp_server, live_server)
    two = re.search(r"^2: (\S+csat=2)\s*$", text, re.MULTILINE)
    assert two is not None

    customer = browser.new_page(viewport={"width": 390, "height": 844})
    customer.goto(two.group(1))
    assert customer.is_checked("input[name=csat][value='2']")
    assert Survey.objects.get().answered_at is None  # opening the link records nothing
    assert customer.evaluate("document.documentElement.scrollWidth") <= 390
    customer.fill("textarea[name=comment]", "I had to ask three times.")
    customer.click("button:has-text('Send my answer')")
    customer.wait_for_selector("text=Your answer is saved")
    customer.close()

    log_in(page, live_server, "agent1")
    page.goto(f"{live_server.url}/desk/tickets/{ticket.pk}/")
    panel = page.locator("#followup-standing").inner_text()
    assert "CSAT 2/5" in panel and "detractor" in panel and "three times" in panel

    # The worker runs the answer's follow-up: a recovery task on the lead's list.
    (follow,) = DBTaskResult.objects.filter(task_path=survey_answer_follow.module_path)
    survey_answer_follow.call(*follow.args_kwargs["args"])
    assert FollowupTask.objects.get().kind == FollowupTask.Kind.RECOVERY
    page.click("button:has-text('Log out')")
    log_in(page, live_server, "lead1")
    page.click("a:has-text('Follow-up')")
    row = page.locator("#followup-tasks tr", has_text="Call back")
    assert "CSAT 2" in row.inner_text() and "Ada Buyer" in row.inner_text()
    row.locator("button", has_text="Take").click()
    page.wait_for_selector("text=yours.")
    assert "owner=me" in page.url
    row = page.locator("#followup-tasks tr", has_text="Call back")
    assert "Take" not in row.inner_text()
    row.locator("button", has_text="Done").click()
    page.wait_for_selector("text=No tasks here.")
    assert FollowupTask.objects.get().state == FollowupTask.State.DONE
