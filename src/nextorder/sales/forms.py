from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import QuerySet

from nextorder.crm.models import Customer, Order, Product
from nextorder.sales.models import AgreementItem, Commitment, Lead, ServiceKind

# Bounds of the columns: a form refuses what the database could not store.
_MOST_MINUTES = 2**31 - 1
_MOST_MONEY = Decimal("9999999999.99")


def staff_users() -> QuerySet[User]:
    """Who may own a promise or a lead: active staff with a role."""
    return get_user_model().objects.filter(is_active=True, groups__isnull=False).distinct()


class _PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.get_username())


class _OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.reference} · {obj.placed_at:%d %b %Y} · {obj.amount} {obj.currency}"


class CustomerField(forms.ModelChoiceField):
    """A customer by id (the pages link here from a customer or a ticket)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            queryset=Customer.objects.all(),
            widget=forms.HiddenInput,
            # Hidden: reached without one, the page says where to start from.
            error_messages={
                "required": "Which customer? Start from the customer's page or a ticket of theirs.",
                "invalid_choice": "There is no such customer.",
            },
            **kwargs,
        )


class CommitmentForm(forms.Form):
    kind = forms.ChoiceField(choices=Commitment.Kind.choices)
    description = forms.CharField(max_length=500, label="What was promised")
    due_at = forms.DateTimeField(
        label="Due", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    owner = _PersonChoiceField(queryset=User.objects.none())
    order = _OrderChoiceField(queryset=Order.objects.none(), required=False, empty_label="— none —")

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_users()  # type: ignore[attr-defined]
        self.fields["order"].queryset = customer.orders.order_by("-placed_at", "-id")  # type: ignore[attr-defined]

    def clean_due_at(self) -> datetime:
        """A time the databases store in UTC whatever the shop's zone (as the API's)."""
        due_at: datetime = self.cleaned_data["due_at"]
        if not 1900 <= due_at.year <= 9000:
            raise forms.ValidationError("The year must be between 1900 and 9000.")
        return due_at


class CommitmentStateForm(forms.Form):
    ACTIONS = (("keep", "Kept"), ("break", "Broken"), ("waive", "Waived"), ("reassign", "Reassign"))

    action = forms.ChoiceField(choices=ACTIONS)
    reason = forms.CharField(max_length=500, required=False)
    owner = _PersonChoiceField(queryset=User.objects.none(), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_users()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == "reassign" and not data.get("owner"):
            self.add_error("owner", "Choose who takes the promise over.")
        return data


class AgreementForm(forms.Form):
    name = forms.CharField(max_length=200)
    plan = forms.CharField(max_length=100, required=False)
    starts_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    first_response_minutes = forms.IntegerField(
        required=False,
        label="First response within (business minutes)",
        min_value=1,
        max_value=_MOST_MINUTES,
    )
    resolution_minutes = forms.IntegerField(
        required=False,
        label="Resolution within (business minutes)",
        min_value=1,
        max_value=_MOST_MINUTES,
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", "The agreement must end on or after the day it starts.")
        return data


class AgreementItemForm(forms.Form):
    """One line of an agreement; a formset of these lists what it covers and excludes. A
    row left at "—" is no line (covering everything is a choice, not a blank row)."""

    effect = forms.ChoiceField(choices=[("", "—"), *AgreementItem.Effect.choices], required=False)
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(), required=False, empty_label="— any product —"
    )
    part = forms.CharField(max_length=200, required=False)
    kind = forms.ChoiceField(
        choices=[("", "— any service —"), *ServiceKind.choices], required=False
    )
    note = forms.CharField(max_length=300, required=False)


AgreementItemFormSet = forms.formset_factory(
    AgreementItemForm, extra=2, max_num=50, absolute_max=50, can_delete=True
)


class CoverageForm(forms.Form):
    """The question an agent asks: is this product, part or kind of service covered?"""

    customer = CustomerField()
    product = forms.ModelChoiceField(
        queryset=Product.objects.all(), required=False, empty_label="— any product —"
    )
    part = forms.CharField(max_length=200, required=False)
    kind = forms.ChoiceField(
        choices=[("", "— any service —"), *ServiceKind.choices], required=False
    )
    on = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))


class LeadForm(forms.Form):
    title = forms.CharField(max_length=200)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=10_000
    )
    owner = _PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="— nobody —"
    )
    value_estimate = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0, max_value=_MOST_MONEY
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = staff_users()  # type: ignore[attr-defined]


class LeadNewForm(LeadForm):
    customer = CustomerField()
    source = forms.ChoiceField(
        choices=[(s, label) for s, label in Lead.Source.choices if s != Lead.Source.TICKET],
        initial=Lead.Source.MANUAL,
    )


class LeadCloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=(("won", "Won"), ("lost", "Lost")))
    order = _OrderChoiceField(
        queryset=Order.objects.none(), required=False, empty_label="— no order —"
    )
    amount = forms.DecimalField(
        required=False, max_digits=12, decimal_places=2, min_value=0, max_value=_MOST_MONEY
    )
    reason = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, lead: Lead, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order"].queryset = lead.customer.orders.order_by("-placed_at", "-id")  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("outcome") == "won" and data.get("amount") is None and not data.get("order"):
            self.add_error("amount", "Say what was won, or choose the order.")
        return data
