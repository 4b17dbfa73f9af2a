"""`nextorder import mailbox`: a shop's old support mailbox, as mbox or Maildir, comes in
as the same tickets live mail would have made; a second run adds nothing."""

from __future__ import annotations

import mailbox

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from nextorder.desk.mail import mailbox as desk_mailbox
from nextorder.desk.models import InboundMail, Message, Ticket
from tests.desk.mail_factory import customer_email, realistic_mailbox

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("batch", "parallel_from"),
    [(500, 10**9), (40, 1)],
    ids=["one batch, read here", "threads across batches, read by worker processes"],
)
def test_an_mbox_comes_in_counted_and_threaded_and_once(
    tmp_path, capsys, monkeypatch, batch, parallel_from
):
    monkeypatch.setattr(desk_mailbox, "BATCH", batch)
    monkeypatch.setattr(desk_mailbox, "PARALLEL_FROM", parallel_from)
    path = tmp_path / "support.mbox"
    kinds = realistic_mailbox(path, count=300)
    call_command("import", "mailbox", str(path), verbosity=0)
    outcomes = dict(InboundMail.objects.values_list("outcome").annotate(n=Count("id")))
    assert outcomes[InboundMail.Outcome.OPENED] == kinds["first"]
    assert outcomes[InboundMail.Outcome.ADDED] == kinds["follow_up"]
    assert outcomes[InboundMail.Outcome.AUTO_REPLY] == kinds["auto_reply"]
    assert outcomes[InboundMail.Outcome.BOUNCE] == kinds["bounce"]
    assert Ticket.objects.count() == kinds["first"]
    assert Message.objects.count() == kinds["first"] + kinds["follow_up"]
    # Dated by the messages, not by the import.
    assert (
        Ticket.objects.filter(created_at__year=2026, created_at__month=11).count() == kinds["first"]
    )
    call_command("import", "mailbox", str(path))
    assert "300 duplicate" in capsys.readouterr().out
    assert Message.objects.count() == kinds["first"] + kinds["follow_up"]


def test_a_maildir_folder(tmp_path):
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    box.add(customer_email(subject="From a Maildir"))
    call_command("import", "mailbox", str(tmp_path / "Maildir"), verbosity=0)
    assert Ticket.objects.get().subject == "From a Maildir"


@pytest.mark.parametrize("make", ["missing", "folder", "text"])
def test_what_is_not_a_mailbox_is_refused_with_a_reason(tmp_path, make):
    path = tmp_path / "thing"
    if make == "folder":
        path.mkdir()
    elif make == "text":
        path.write_text("customer_id,amount\n1,2\n")
    with pytest.raises(CommandError, match=r"does not exist|not a Maildir|not an mbox"):
        call_command("import", "mailbox", str(path), verbosity=0)
