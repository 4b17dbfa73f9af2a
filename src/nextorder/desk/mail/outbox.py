"""An email backend that keeps mail in the database instead of sending it.

It is the default until an SMTP server is configured (`EMAIL_HOST`): the demo and a
fresh install show managers what would have gone out (`/desk/outbox/`) and nothing
leaves the machine by surprise.
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import getaddresses

from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

from nextorder.desk.models import OutboxMail


class OutboxBackend(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for email in email_messages:
            message = email.message()
            recipients = [address for _name, address in getaddresses(email.recipients())]
            OutboxMail.objects.create(
                from_address=str(email.from_email)[:254],
                to_addresses=", ".join(recipients),
                subject=str(email.subject)[:500],
                message_id=str(message.get("Message-ID", ""))[:250],
                raw=message.as_bytes(linesep="\r\n"),
            )
        return len(email_messages)
