"""Promises read from optional columns of an order file, beside the orders: all of the
file or nothing, bad rows named by the line an editor shows, re-imports add nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Order
from nextorder.sales.importers import orders_import_with_promises
from nextorder.sales.models import Commitment

pytestmark = pytest.mark.django_db

HEADER = "customer_id,order_id,placed_at,amount,Promise,Promise_Due,promise_owner,promise_kind\n"


def _file(tmp_path: Path, rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "orders.csv"
    path.write_text(header + rows)
    return path


def test_promise_columns_make_promises_on_their_orders(tmp_path, sales_user, agent):
    agent.email = "Alex@Shop.Example"
    agent.save()
    path = _file(
        tmp_path,
        "K1,A-1,2026-03-01,50.00,Install on site,2026-03-10,sales1,install by\n"
        "K1,A-2,2026-03-02,20.00,,,,\n"
        'K2,A-3,2026-03-03,70.00,"Call back about\nthe warranty",2026-03-05T09:30+01:00,'
        "alex@shop.example,call_back\n",
    )

    out = orders_import_with_promises(path=path, file_format="csv", time_zone="Europe/Berlin")

    assert (out.promises_created, out.promises_known) == (2, 0)
    install = Commitment.objects.get(order__external_id="A-1")
    assert (install.kind, install.owner, install.customer.external_id) == (
        Commitment.Kind.INSTALL_BY,
        sales_user,
        "K1",
    )
    # A date is due by the end of that day, in the import's time zone.
    assert install.due_at == datetime(2026, 3, 10, 22, 59, 59, tzinfo=UTC)
    call = Commitment.objects.get(order__external_id="A-3")
    assert (call.kind, call.owner) == (Commitment.Kind.CALL_BACK, agent)
    assert call.due_at == datetime(2026, 3, 5, 8, 30, tzinfo=UTC)
    assert call.description == "Call back about\nthe warranty"
    assert (
        Event.objects.filter(verb=Verb.COMMITMENT_CREATED, actor_label="system:import").count() == 2
    )


def test_importing_again_adds_no_promise(tmp_path, sales_user):
    path = _file(tmp_path, "K1,A-1,2026-03-01,50.00,Deliver,2026-03-10,sales1,deliver_by\n")
    orders_import_with_promises(path=path, file_format="csv")
    again = orders_import_with_promises(path=path, file_format="csv")
    assert (again.promises_created, again.promises_known) == (0, 1)
    assert Commitment.objects.count() == 1


def test_a_promise_without_an_owner_falls_back_to_the_person_importing(tmp_path, manager):
    path = _file(tmp_path, "K1,A-1,2026-03-01,50.00,Training,2026-04-01,,training\n")
    orders_import_with_promises(path=path, file_format="csv", actor=manager)
    assert Commitment.objects.get().owner == manager


def test_a_promise_on_a_line_item_belongs_to_its_order(tmp_path, sales_user):
    header = (
        "customer_id,order_id,placed_at,amount,sku,product_name,quantity,unit_price,"
        "promise,promise_due,promise_owner\n"
    )
    path = _file(
        tmp_path,
        "K1,A-1,2026-03-01,30.00,S-1,Grinder,1,20.00,,,\n"
        "K1,A-1,,,S-2,Filters,1,10.00,Replacement filters,2026-03-20,sales1\n",
        header=header,
    )
    orders_import_with_promises(path=path, file_format="csv")
    promise = Commitment.objects.get()
    assert promise.order == Order.objects.get(external_id="A-1")
    assert promise.kind == Commitment.Kind.OTHER


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (
            "K3,A-3,2026-03-03,5.00,Deliver,next week,sales1,",
            "promise due 'next week' is not a date",
        ),
        (
            "K3,A-3,2026-03-03,5.00,Deliver,2026-04-01,nobody,",
            "promise owner 'nobody' is no active",
        ),
        ("K3,A-3,2026-03-03,5.00,Deliver,2026-04-01,sales1,massage", "promise kind 'massage'"),
        (
            "K3,A-3,2026-03-03,5.00,,2026-04-01,sales1,",
            "promise columns are filled but the promise says nothing",
        ),
        ("K3,A-3,2026-03-03,5.00,Deliver,2026-04-01,,", "the promise has no owner"),
    ],
)
def test_the_command_names_the_line_of_a_bad_promise_and_keeps_nothing(
    tmp_path, sales_user, row, reason
):
    # The quoted promise of the second order spans two lines: the bad row is on line 5.
    path = _file(
        tmp_path,
        "K1,A-1,2026-03-01,50.00,Deliver,2026-03-10,sales1,\n"
        'K2,A-2,2026-03-02,20.00,"Call back\nafter install",2026-03-10,sales1,\n' + row + "\n",
    )
    with pytest.raises(CommandError) as refused:
        call_command("import", "orders", str(path), verbosity=0)
    assert f"orders.csv:5: {reason}" in str(refused.value)
    assert "Nothing from this file was imported" in str(refused.value)
    assert not Order.objects.exists() and not Commitment.objects.exists()


def test_the_command_reports_the_promises(tmp_path, sales_user, capsys):
    path = _file(tmp_path, "K1,A-1,2026-03-01,50.00,Deliver,2026-03-10,sales1,\n")
    call_command("import", "orders", str(path), "--json")
    summary = json.loads(capsys.readouterr().out)
    assert (summary["orders_new"], summary["promises_new"]) == (1, 1)


def test_a_file_without_promise_columns_imports_as_before(tmp_path):
    path = _file(
        tmp_path, "K1,A-1,2026-03-01,50.00\n", header="customer_id,order_id,placed_at,amount\n"
    )
    out = orders_import_with_promises(path=path, file_format="csv")
    assert (out.orders.orders_created, out.promises_created) == (1, 0)
