from __future__ import annotations

from django import forms
from django.contrib.auth import get_user_model

from nextorder.core.models import Team
from nextorder.desk.models import Ticket


class ReplyForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), strip=True)
    status = forms.ChoiceField(choices=Ticket.Status.choices, initial=Ticket.Status.PENDING)
    internal = forms.BooleanField(required=False, label="Internal note (not sent to the customer)")
    version = forms.IntegerField(widget=forms.HiddenInput)


class TicketUpdateForm(forms.Form):
    status = forms.ChoiceField(choices=Ticket.Status.choices)
    priority = forms.TypedChoiceField(choices=Ticket.Priority.choices, coerce=int)
    assignee = forms.ModelChoiceField(
        queryset=get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .order_by("username"),
        required=False,
        empty_label="— nobody —",
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.all(), required=False, empty_label="— none —"
    )
    version = forms.IntegerField(widget=forms.HiddenInput)
