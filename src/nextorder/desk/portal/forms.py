"""Forms anyone may post: bounded as the columns they fill (Django's CharField also
refuses NUL characters), so that bad input is a 400 with a message, never a 500."""

from __future__ import annotations

from django import forms

from nextorder.desk.mail.parse import MAX_BODY_CHARS

# The honeypot: people never see it (console.css moves it off screen), form-filling
# scripts fill in every field they find.
HONEYPOT_FIELD = "website"


class ContactForm(forms.Form):
    name = forms.CharField(max_length=200)
    email = forms.EmailField(max_length=254, label="Email address")
    subject = forms.CharField(max_length=250)
    message = forms.CharField(widget=forms.Textarea(attrs={"rows": 8}), max_length=MAX_BODY_CHARS)
    order_number = forms.CharField(
        max_length=100, required=False, label="Order number (if it is about an order)"
    )
    website = forms.CharField(
        required=False,
        label="Leave this empty",
        widget=forms.TextInput(attrs={"autocomplete": "off", "tabindex": "-1"}),
    )


class PortalLinkForm(forms.Form):
    email = forms.EmailField(max_length=254, label="Email address")


class PortalReplyForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6}), max_length=MAX_BODY_CHARS, label="Your answer"
    )
