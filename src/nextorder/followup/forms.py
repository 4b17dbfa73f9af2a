from __future__ import annotations

from django import forms

from nextorder.followup.models import FollowupTask
from nextorder.followup.services import MAX_COMMENT_CHARS

CSAT_CHOICES = [(score, str(score)) for score in range(1, 6)]
NPS_CHOICES = [(score, str(score)) for score in range(11)]


class SurveyForm(forms.Form):
    csat = forms.TypedChoiceField(
        label="How satisfied are you with the help you got? (1 = not at all, 5 = very)",
        choices=CSAT_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    nps = forms.TypedChoiceField(
        label="How likely are you to recommend us to a friend? (0 = not at all, 10 = certainly)",
        choices=NPS_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label="How did it help you? What could we do better?",
        max_length=MAX_COMMENT_CHARS,
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


class ReferralForm(forms.Form):
    email = forms.EmailField(label="Your email address", max_length=254)


class TaskCloseForm(forms.Form):
    state = forms.ChoiceField(
        choices=[(FollowupTask.State.DONE, "Done"), (FollowupTask.State.DISMISSED, "Dismiss")]
    )
    note = forms.CharField(max_length=1000, required=False)


class PlaybookForm(forms.Form):
    action = forms.ChoiceField(choices=[("stop", "Stop"), ("resume", "Resume")])
