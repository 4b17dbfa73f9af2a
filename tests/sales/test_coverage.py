"""Service agreements and the coverage answer: what is covered, why, and until when."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from nextorder.core.models import Event, Verb
from nextorder.crm.models import Product
from nextorder.sales.models import AgreementItem, Lead, ServiceKind
from nextorder.sales.selectors import coverage_for
from nextorder.sales.services import (
    ItemSpec,
    agreement_create,
    agreement_update,
    renewal_leads_create,
)

pytestmark = pytest.mark.django_db

TODAY = date(2026, 6, 1)
COVERS, EXCLUDES = AgreementItem.Effect.COVERS, AgreementItem.Effect.EXCLUDES


@pytest.fixture
def products(db) -> dict[str, Product]:
    return {
        sku: Product.objects.create(sku=sku, name=name, price=100)
        for sku, name in (("ESP-1", "Espresso machine"), ("GRN-1", "Grinder"))
    }


@pytest.fixture
def care(customer, products, sales_user):
    """Repairs of the espresso machine, its battery excluded; remote support of anything."""
    return agreement_create(
        customer=customer,
        name="Care Plus",
        plan="gold",
        starts_on=TODAY - timedelta(days=100),
        ends_on=TODAY + timedelta(days=30),
        first_response_minutes=60,
        resolution_minutes=480,
        actor=sales_user,
        items=[
            ItemSpec(effect=COVERS, product=products["ESP-1"], kind=ServiceKind.REPAIR),
            ItemSpec(
                effect=EXCLUDES,
                product=products["ESP-1"],
                part="Battery",
                note="wear part",
            ),
            ItemSpec(effect=COVERS, kind=ServiceKind.REMOTE_SUPPORT),
        ],
    )


def test_a_covered_repair_names_the_agreement_and_its_end(customer, products, care):
    answer = coverage_for(
        customer=customer, product=products["ESP-1"], kind=ServiceKind.REPAIR, on=TODAY
    )
    assert answer.covered
    assert (answer.agreement, answer.until) == (care, care.ends_on)
    assert answer.item.kind == ServiceKind.REPAIR
    assert "Care Plus covers repair of ESP-1 Espresso machine" in answer.reason


def test_an_excluded_part_is_not_covered_and_says_why(customer, products, care):
    answer = coverage_for(
        customer=customer,
        product=products["ESP-1"],
        part=" battery ",
        kind=ServiceKind.REPAIR,
        on=TODAY,
    )
    assert not answer.covered
    assert answer.item.effect == EXCLUDES
    assert "excludes the Battery of ESP-1" in answer.reason and "wear part" in answer.reason


def test_another_part_of_a_covered_product_is_covered(customer, products, care):
    answer = coverage_for(
        customer=customer, product=products["ESP-1"], part="pump", kind="repair", on=TODAY
    )
    assert answer.covered


def test_a_product_or_service_outside_the_lines_is_not_covered(customer, products, care):
    grinder = coverage_for(
        customer=customer, product=products["GRN-1"], kind=ServiceKind.REPAIR, on=TODAY
    )
    assert not grinder.covered and "Not among what Care Plus covers" in grinder.reason
    installation = coverage_for(
        customer=customer, product=products["ESP-1"], kind=ServiceKind.INSTALLATION, on=TODAY
    )
    assert not installation.covered
    remote = coverage_for(
        customer=customer, product=products["GRN-1"], kind=ServiceKind.REMOTE_SUPPORT, on=TODAY
    )
    assert remote.covered


def test_nothing_is_covered_before_or_after_the_agreement(customer, products, care):
    for day in (care.starts_on - timedelta(days=1), care.ends_on + timedelta(days=1)):
        answer = coverage_for(customer=customer, product=products["ESP-1"], kind="repair", on=day)
        assert not answer.covered and "No service agreement in force" in answer.reason
    last = coverage_for(
        customer=customer, product=products["ESP-1"], kind="repair", on=care.ends_on
    )
    assert last.covered


def test_an_unknown_kind_of_service_is_refused(customer, care):
    with pytest.raises(ValidationError, match="Unknown kind"):
        coverage_for(customer=customer, kind="teleportation", on=TODAY)


def test_an_agreement_ending_before_it_starts_is_refused(customer, sales_user):
    with pytest.raises(ValidationError, match="end on or after"):
        agreement_create(
            customer=customer,
            name="Backwards",
            starts_on=TODAY,
            ends_on=TODAY - timedelta(days=1),
            actor=sales_user,
        )


def test_changing_the_lines_is_one_event_listing_before_and_after(care, products, sales_user):
    agreement_update(
        agreement=care,
        actor=sales_user,
        resolution_minutes=240,
        items=[ItemSpec(effect=COVERS, product=products["GRN-1"])],
    )
    event = Event.objects.get(verb=Verb.AGREEMENT_CHANGED)
    assert event.before["resolution_minutes"] == 480 and event.after["resolution_minutes"] == 240
    assert event.after["items"] == ["covers GRN-1 Grinder"]
    assert len(event.before["items"]) == 3
    assert care.items.count() == 1


def test_agreements_ending_soon_become_one_renewal_lead_each(care, customer, sales_user):
    later = agreement_create(
        customer=customer,
        name="Far off",
        starts_on=TODAY,
        ends_on=TODAY + timedelta(days=400),
        actor=sales_user,
    )
    first = renewal_leads_create(today=TODAY)
    again = renewal_leads_create(today=TODAY)
    assert [lead.agreement for lead in first] == [care]
    assert again == []
    lead = Lead.objects.get()
    assert (lead.source, lead.owner, lead.customer) == (Lead.Source.RENEWAL, sales_user, customer)
    assert "Care Plus" in lead.title
    assert not Lead.objects.filter(agreement=later).exists()
