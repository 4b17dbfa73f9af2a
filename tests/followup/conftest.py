from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nextorder.desk.models import Ticket
from nextorder.desk.services import ticket_reply

# A weekday at noon UTC: outside the quiet hours (21:00-08:00 in UTC, the tests' zone).
NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def solved(ticket, agent) -> Ticket:
    """The customer's ticket, answered and solved by the agent two days before NOON."""
    ticket_reply(
        ticket=ticket,
        author=agent,
        body="Found it: on its way.",
        expected_version=1,
        status=Ticket.Status.SOLVED,
    )
    Ticket.objects.filter(pk=ticket.pk).update(solved_at=datetime(2026, 6, 8, 9, 0, tzinfo=UTC))
    ticket.refresh_from_db()
    return ticket
