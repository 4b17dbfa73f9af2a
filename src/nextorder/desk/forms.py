from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from nextorder.core.models import BusinessCalendar, Team
from nextorder.crm.models import Customer
from nextorder.desk.mail.parse import MAX_BODY_CHARS
from nextorder.desk.models import Ticket
from nextorder.desk.selectors import ticket_workers
from nextorder.desk.sla import PAUSABLE_STATUSES


class ReplyForm(forms.Form):
    # Django's CharField refuses NUL characters; max_length says how long is too long.
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), strip=True, max_length=MAX_BODY_CHARS
    )
    status = forms.ChoiceField(choices=Ticket.Status.choices, initial=Ticket.Status.PENDING)
    internal = forms.BooleanField(required=False, label="Internal note (not sent to the customer)")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)


class _PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.get_username())


class TicketUpdateForm(forms.Form):
    """The ticket's fields, offering each user only the choices their role may make:
    an agent takes or leaves a ticket; a lead assigns it to anyone who works tickets and
    moves it between teams."""

    status = forms.ChoiceField(choices=Ticket.Status.choices)
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int)
    assignee = _PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="— nobody —"
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, empty_label="— none —"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)

    def __init__(self, *args: Any, user: User, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        if user.has_perm("desk.assign_ticket"):
            assignee.queryset = ticket_workers()
        else:
            # Oneself, or whoever has it now (so the form shows the truth and can be saved).
            assignee.queryset = ticket_workers().filter(pk__in=[user.pk, ticket.assignee_id])
            self.fields["team"].disabled = True
            self.fields["team"].initial = ticket.team_id


class ContactAddressForm(forms.Form):
    """The customer's address, for a ticket that has none to reply to."""

    address = forms.EmailField(max_length=254, label="Customer's email address")
    name = forms.CharField(max_length=200, required=False, label="Name (optional)")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)


# A target of up to a year of business minutes.
_MOST_MINUTES = 366 * 24 * 60


def _minutes_field(label: str) -> forms.IntegerField:
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=_MOST_MINUTES)


class SlaPolicyForm(forms.Form):
    """A policy's conditions and targets; `desk.sla.sla_policy_create/update` check and
    write them (and book the recompute of open tickets)."""

    name = forms.CharField(max_length=100)
    position = forms.IntegerField(min_value=0, max_value=2**31 - 1, initial=100)
    active = forms.BooleanField(required=False, initial=True)
    customer_kind = forms.ChoiceField(
        choices=[("", "Any customer"), *Customer.Kind.choices], required=False
    )
    top_value_only = forms.BooleanField(
        required=False, label="Only customers in the top value segment"
    )
    priorities = forms.TypedMultipleChoiceField(
        choices=Ticket.Priority.choices,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any priority.",
    )
    channels = forms.MultipleChoiceField(
        choices=Ticket.Channel.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: any channel.",
    )
    first_response_minutes = _minutes_field("First response (business minutes)")
    next_response_minutes = _minutes_field("Next response (business minutes)")
    resolution_minutes = _minutes_field("Resolution (business minutes)")
    pause_statuses = forms.MultipleChoiceField(
        choices=[(s, Ticket.Status(s).label) for s in PAUSABLE_STATUSES],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        initial=[Ticket.Status.PENDING],
        label="Clocks pause while the ticket is",
    )
    calendar = forms.ModelChoiceField(
        queryset=BusinessCalendar.objects.all(),
        required=False,
        empty_label="— the ticket's team's, else round the clock —",
        label="Business hours",
    )
    reassign_on_breach = forms.BooleanField(
        required=False, label="At a breach, hand the ticket to a lead of its team"
    )
    version = forms.IntegerField(
        widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1, required=False
    )
