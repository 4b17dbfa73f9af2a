from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse
from django.utils import timezone

from nextorder.crm.models import Customer
from nextorder.crm.services import orders_import
from nextorder.desk.models import Message, Ticket
from nextorder.desk.services import ticket_update

pytestmark = pytest.mark.django_db


def test_login_is_required(client, ticket):
    response = client.get(reverse("desk:queue"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_queue_shows_ticket_with_customer_spend(client, agent, ticket):
    client.force_login(agent)
    response = client.get(reverse("desk:queue"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Where is my order?" in html and "Ada Buyer" in html and "55.50" in html


@pytest.mark.parametrize(
    ("age", "words"),
    [
        (timedelta(seconds=20), "just now"),
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=47), "47 h ago"),
        (timedelta(days=59), "59 d ago"),
        (timedelta(days=400), "13 mo ago"),
        (timedelta(days=800), "2 yr ago"),
    ],
)
def test_queue_rows_say_how_long_ago_and_link_ticket_and_customer(
    client, agent, ticket, age, words
):
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=timezone.now() - age, last_message_at=timezone.now() - age
    )
    client.force_login(agent)
    row = client.get(reverse("desk:queue")).content.decode().split(f'data-ticket="{ticket.pk}"')[1]
    row = row.split("</tr>")[0]
    assert row.count(f">{words}<") == 2  # opened and last message
    assert f'href="{reverse("desk:ticket", args=[ticket.pk])}"' in row
    assert f'href="{reverse("desk:customer", args=[ticket.customer_id])}"' in row


def test_queue_rows_name_the_assignee_as_a_person(client, agent, ticket):
    agent.first_name, agent.last_name = "Alex", "Morgan"
    agent.save()
    Ticket.objects.filter(pk=ticket.pk).update(assignee=agent)
    client.force_login(agent)

    html = client.get(reverse("desk:queue")).content.decode()

    assert '<td data-label="Assignee">Alex Morgan</td>' in html


@pytest.mark.parametrize("query", ["?sort=bogus", "?team=x&assignee=zz&status=nope", "?after=%%%"])
def test_odd_queries_never_500(client, agent, ticket, query):
    client.force_login(agent)
    response = client.get(reverse("desk:queue") + query)
    assert response.status_code in (200, 400)


def test_htmx_load_more_returns_rows_only(client, agent, customer):
    from nextorder.desk.services import ticket_open

    for i in range(3):
        ticket_open(customer=customer, subject=f"s{i}", body_text="b")
    client.force_login(agent)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("django.conf.settings.NEXTORDER_QUEUE_PAGE_SIZE", 2)
        first = client.get(reverse("desk:queue"))
        cursor = first.context["page"].next_cursor
        more = client.get(reverse("desk:queue") + f"?after={cursor}", HTTP_HX_REQUEST="true")
    assert "<table" not in more.content.decode()
    assert more.content.decode().count("data-ticket=") == 1


def test_reply_from_the_ticket_page(client, agent, ticket):
    client.force_login(agent)
    page = client.get(reverse("desk:ticket", args=[ticket.pk]))
    assert "It is late." in page.content.decode() and "Ordered USD 35.50" in page.content.decode()

    response = client.post(
        reverse("desk:ticket_reply", args=[ticket.pk]),
        {"body": "Sent today <b>promise</b>", "status": "pending", "version": 1},
        follow=True,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Sent today &lt;b&gt;promise&lt;/b&gt;" in html  # escaped, not rendered
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.PENDING


def test_stale_reply_is_a_409_that_keeps_the_draft(client, agent, other_agent, ticket):
    ticket_update(ticket=ticket, actor=other_agent, expected_version=1, status=Ticket.Status.OPEN)
    client.force_login(agent)

    response = client.post(
        reverse("desk:ticket_reply", args=[ticket.pk]),
        {"body": "My careful answer", "status": "pending", "version": 1},
    )

    assert response.status_code == 409
    html = response.content.decode()
    assert "was changed by agent2" in html
    assert "My careful answer" in html  # the draft is still in the reply box
    assert not Message.objects.filter(body_text="My careful answer").exists()


def test_stale_update_is_a_409(client, agent, other_agent, ticket):
    ticket_update(ticket=ticket, actor=other_agent, expected_version=1, priority=3)
    client.force_login(agent)
    response = client.post(
        reverse("desk:ticket_update", args=[ticket.pk]),
        {"status": "solved", "priority": 1, "assignee": "", "team": "", "version": 1},
    )
    assert response.status_code == 409
    ticket.refresh_from_db()
    assert (ticket.status, ticket.priority) == (Ticket.Status.NEW, 3)


def test_sales_can_read_but_not_reply(client, sales_user, ticket):
    client.force_login(sales_user)
    assert client.get(reverse("desk:ticket", args=[ticket.pk])).status_code == 200
    response = client.post(
        reverse("desk:ticket_reply", args=[ticket.pk]),
        {"body": "hi", "status": "open", "version": 1},
    )
    assert response.status_code == 403


def test_customer_page(client, agent, ticket, customer):
    client.force_login(agent)
    response = client.get(reverse("desk:customer", args=[customer.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "ada@example.com" in html and "O-15" in html and "Where is my order?" in html
    for expected, shown in ((0, "0 orders expected"), (0.43, "0.4 orders expected")):
        customer.__class__.objects.filter(pk=customer.pk).update(
            scored_at=timezone.now(), expected_orders_90d=expected
        )
        assert shown in client.get(reverse("desk:customer", args=[customer.pk])).content.decode()


def test_each_role_sees_only_the_actions_it_may_take(
    client, agent, other_agent, lead, sales_user, ticket
):
    page = reverse("desk:ticket", args=[ticket.pk])
    client.force_login(sales_user)
    html = client.get(page).content.decode()
    assert "ticket_reply" not in html and 'name="body"' not in html
    assert 'name="assignee"' not in html

    client.force_login(agent)
    form = client.get(page).context["update_form"]
    assert set(form.fields["assignee"].queryset) == {agent}  # take it, or leave it
    assert form.fields["team"].disabled

    client.force_login(lead)
    form = client.get(page).context["update_form"]
    assert set(form.fields["assignee"].queryset) == {agent, other_agent, lead}  # no sales
    assert not form.fields["team"].disabled


def test_an_agent_saving_the_form_keeps_the_team(client, agent, ticket):
    from nextorder.core.services import team_ensure

    team = team_ensure(name="Returns")
    Ticket.objects.filter(pk=ticket.pk).update(team=team)
    client.force_login(agent)
    response = client.post(
        reverse("desk:ticket_update", args=[ticket.pk]),
        {"status": "open", "priority": 1, "assignee": agent.pk, "version": 1},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert (ticket.team, ticket.assignee, ticket.status) == (team, agent, "open")


def test_the_customer_page_says_which_orders_are_not_sales(client, agent, tmp_path):
    path = tmp_path / "orders.csv"
    path.write_text(
        "customer_id,order_id,placed_at,amount,status,refunded\n"
        "K1,A-1,2026-01-05,10.00,paid,2.50\nK1,A-2,2026-01-06,20.00,cancelled,\n"
    )
    orders_import(path=path, file_format="csv")
    client.force_login(agent)

    html = client.get(reverse("desk:customer", args=[Customer.objects.get().pk])).content.decode()

    assert "2.50 refunded" in html and "cancelled</span>" in html


def test_the_favicon_is_there_for_browsers_that_ask_for_favicon_ico(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    icon = response.url.removeprefix(settings.STATIC_URL)
    assert finders.find(icon) and icon.endswith(".svg")
