"""`nextorder playbook run|schedule`."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from nextorder.desk.models import Ticket
from nextorder.followup.models import Survey
from nextorder.followup.tasks import playbook_nightly

pytestmark = pytest.mark.django_db


def test_run_surveys_a_solved_ticket_once_and_schedule_books_one_night(solved):
    Ticket.objects.filter(pk=solved.pk).update(solved_at=timezone.now() - timedelta(days=2))
    out = StringIO()
    call_command("playbook", "run", stdout=out)
    call_command("playbook", "run", stdout=StringIO())
    assert "surveys: 1" in out.getvalue() and Survey.objects.count() == 1
    call_command("playbook", "schedule", stdout=out)
    call_command("playbook", "schedule", stdout=out)
    assert "The playbook runs next at" in out.getvalue()
    assert DBTaskResult.objects.filter(task_path=playbook_nightly.module_path).count() == 1
