"""Emails as mail clients write them, for the channel tests."""

from __future__ import annotations

import mailbox
import random
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path


def customer_email(
    *,
    sender: str = "Ada <ada@example.com>",
    to: str = "support@nextorder.localhost",
    subject: str = "Where is my order?",
    text: str = "It has not arrived yet.",
    html: str | None = None,
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] = (),  # type: ignore[assignment]
    sent_at: datetime | None = None,
    charset: str = "utf-8",
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(sent_at or datetime(2026, 11, 30, 9, 15, tzinfo=UTC))
    message["Message-ID"] = message_id or make_msgid(domain="mail.example.com")
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset=charset)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, content_type, content in attachments:
        maintype, subtype = content_type.split("/")
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


_NAMES = ["Ada Lind", "Bruno Díaz", "Chloé Martin", "Dmitri Ivanov", "Eun-ji Park", "Femi Ade"]
_SUBJECTS = ["Where is my order?", "Broken lid", "Refund please", "Größe tauschen", "Invoice"]


def realistic_mailbox(path: Path, *, count: int, seed: int = 7) -> dict[str, int]:
    """An mbox of `count` messages as a shop's support mailbox holds them: threads of a
    customer's message and follow-ups, HTML alternatives, attachments, Latin-1 and UTF-8,
    automatic replies and bounces. Returns how many of each kind it wrote."""
    rng = random.Random(seed)
    kinds: dict[str, int] = {"first": 0, "follow_up": 0, "auto_reply": 0, "bounce": 0}
    threads: list[tuple[str, str, str]] = []  # (sender, subject, message id)
    box = mailbox.mbox(path, create=True)
    box.lock()
    try:
        for number in range(count):
            roll = rng.random()
            if threads and roll < 0.3:
                sender, subject, parent = rng.choice(threads)
                raw = customer_email(
                    sender=sender,
                    subject=f"Re: {subject}",
                    text=f"Any news? (message {number})\n\n> earlier text\n> more",
                    message_id=f"<m{number}@mail.example.com>",
                    in_reply_to=parent,
                    references=parent,
                )
                kinds["follow_up"] += 1
            elif roll < 0.33:
                raw = customer_email(
                    subject="Out of office",
                    message_id=f"<m{number}@mail.example.com>",
                    headers={"Auto-Submitted": "auto-replied"},
                )
                kinds["auto_reply"] += 1
            elif roll < 0.35:
                raw = (
                    "From: MAILER-DAEMON@mx.example.com\r\nTo: support@nextorder.localhost\r\n"
                    f"Subject: Undelivered Mail\r\nMessage-ID: <m{number}@mx.example.com>\r\n"
                    'Content-Type: multipart/report; report-type=delivery-status; boundary="B"'
                    "\r\nMIME-Version: 1.0\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                    "Could not deliver.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
                    "Final-Recipient: rfc822; gone@example.org\r\nAction: failed\r\n--B--\r\n"
                ).encode()
                kinds["bounce"] += 1
            else:
                name = rng.choice(_NAMES)
                sender = f"{name} <customer{rng.randrange(count // 3 + 1)}@shop-mail.example>"
                subject = rng.choice(_SUBJECTS)
                message_id = f"<m{number}@mail.example.com>"
                html = f"<p>Hello,</p><p>{subject}: order <b>#{number}</b>.</p>" * 3
                attachments = (
                    [("photo.jpg", "image/jpeg", bytes(rng.randrange(256) for _ in range(3000)))]
                    if rng.random() < 0.2
                    else []
                )
                raw = customer_email(
                    sender=sender,
                    subject=subject,
                    text=f"Hello,\n{subject}: order #{number}. Grüße, {name}\n" * 3,
                    html=html if rng.random() < 0.6 else None,
                    message_id=message_id,
                    attachments=attachments,
                    charset="iso-8859-1" if rng.random() < 0.2 else "utf-8",
                )
                threads.append((sender, subject, message_id))
                kinds["first"] += 1
            box.add(raw)
        box.flush()
    finally:
        box.unlock()
        box.close()
    return kinds
