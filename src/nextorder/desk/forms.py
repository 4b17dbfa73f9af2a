from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from nextorder.core.models import BusinessCalendar, Team
from nextorder.crm.models import Customer, Order
from nextorder.desk.mail.parse import MAX_BODY_CHARS
from nextorder.desk.models import AgentSkill, AssignmentRule, Ticket
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
    # The macro that filled the reply: its actions run when the reply is sent.
    macro = forms.IntegerField(
        widget=forms.HiddenInput, required=False, min_value=1, max_value=2**63 - 1
    )


class _PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.get_username())


class _OrderChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.reference} · {obj.placed_at:%-d %b %Y} · {obj.amount:,.2f} {obj.currency}"


# The orders offered on a ticket: the customer's latest, and the one linked now.
ORDERS_OFFERED = 50


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
    order = _OrderChoiceField(
        queryset=Order.objects.none(), required=False, empty_label="— none —", label="About order"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)

    def __init__(self, *args: Any, user: User, ticket: Ticket, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assignee = self.fields["assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        order = self.fields["order"]
        assert isinstance(order, forms.ModelChoiceField)
        latest = ticket.customer.orders.order_by("-placed_at", "-id").values("pk")
        offered = [*(row["pk"] for row in latest[:ORDERS_OFFERED]), ticket.order_id]
        order.queryset = Order.objects.filter(pk__in=offered).order_by("-placed_at", "-id")
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


class AssignmentRuleForm(forms.Form):
    method = forms.ChoiceField(choices=AssignmentRule.Method.choices)
    use_skills = forms.BooleanField(required=False, label="Prefer skilled members")
    takes_unrouted = forms.BooleanField(
        required=False, label="Also takes tickets that arrive without a team"
    )


class AgentSkillForm(forms.Form):
    user = _PersonChoiceField(queryset=User.objects.none(), label="Agent")
    kind = forms.ChoiceField(choices=AgentSkill.Kind.choices)
    value = forms.CharField(
        max_length=200,
        strip=True,
        help_text="A product's name or SKU, or a language code such as de or fr.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        user = self.fields["user"]
        assert isinstance(user, forms.ModelChoiceField)
        user.queryset = ticket_workers()


_MAX_ID = 2**63 - 1


class TagForm(forms.Form):
    name = forms.CharField(max_length=50, label="Add a tag")


class MergeForm(forms.Form):
    """Merge this ticket into another (the survivor)."""

    target = forms.IntegerField(label="Merge into ticket #", min_value=1, max_value=_MAX_ID)
    different_customers = forms.BooleanField(
        required=False, label="Yes, they are different customers' tickets: merge anyway"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)


class SplitForm(forms.Form):
    message = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=_MAX_ID)
    with_later = forms.BooleanField(required=False, label="and the messages after it")
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)


class MacroApplyForm(forms.Form):
    """A macro without a reply, applied at once."""

    macro = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=_MAX_ID)
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1)


class SavedViewForm(forms.Form):
    name = forms.CharField(max_length=60, label="Save these filters as")
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)


class BulkForm(forms.Form):
    """The action and its value; the selected ids are read with `params.object_id`."""

    action = forms.ChoiceField(
        choices=[
            ("assign", "Assign"),
            ("status", "Set status"),
            ("tag", "Add tag"),
            ("merge", "Merge (into the oldest)"),
        ]
    )
    assignee = forms.CharField(max_length=30, required=False)
    status = forms.ChoiceField(choices=[("", "—"), *Ticket.Status.choices], required=False)
    tag = forms.CharField(max_length=50, required=False)


class MacroForm(forms.Form):
    name = forms.CharField(max_length=100)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        max_length=MAX_BODY_CHARS,
        label="Reply (placeholders in braces)",
    )
    shared_with = forms.ChoiceField(label="Who may use it")
    set_status = forms.ChoiceField(
        choices=[("", "— leave —"), *Ticket.Status.choices], required=False, label="Set status"
    )
    set_priority = forms.TypedChoiceField(
        choices=[("", "— leave —"), *Ticket.Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
        label="Set priority",
    )
    set_assignee = _PersonChoiceField(
        queryset=User.objects.none(), required=False, empty_label="— leave —", label="Assign to"
    )
    add_tags = forms.CharField(max_length=500, required=False, label="Add tags (comma-separated)")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("personal", "Only me")]
        if user.has_perm("desk.manage_shared_macros"):
            choices += [("all", "Everyone")]
            choices += [(f"team:{team.pk}", f"Team {team.name}") for team in Team.objects.all()]
        self.fields["shared_with"].choices = choices  # type: ignore[attr-defined]
        assignee = self.fields["set_assignee"]
        assert isinstance(assignee, forms.ModelChoiceField)
        assignee.queryset = (
            ticket_workers() if user.has_perm("desk.assign_ticket") else ticket_workers().none()
        )

    def clean_add_tags(self) -> list[str]:
        return [name.strip() for name in self.cleaned_data["add_tags"].split(",") if name.strip()]


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
