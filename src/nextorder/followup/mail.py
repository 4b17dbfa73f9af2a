"""The playbook's emails: a survey whose ratings are links, a referral ask. Each carries
a one-click unsubscribe link in its text and a List-Unsubscribe header (RFC 2369, with
RFC 8058's one-click POST), and says it was sent automatically (RFC 3834), so that an
auto-responder does not answer it."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from nextorder.desk.services import new_message_id
from nextorder.followup.links import referral_url, survey_url, unsubscribe_url
from nextorder.followup.models import ReferralAsk, Survey


def _email(
    *, to: str, subject: str, template: str, customer_id: int, context: dict[str, object]
) -> EmailMultiAlternatives:
    unsubscribe = unsubscribe_url(customer_id)
    context = {**context, "unsubscribe_url": unsubscribe}
    email = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(f"followup/email/{template}.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
        headers={
            "Message-ID": new_message_id(),
            "Auto-Submitted": "auto-generated",
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )
    email.attach_alternative(
        render_to_string(f"followup/email/{template}.html", context), "text/html"
    )
    return email


def survey_email(survey: Survey) -> EmailMultiAlternatives:
    ticket = survey.ticket
    return _email(
        to=survey.to_address,
        subject=f"How did we do? [#{ticket.pk}]",
        template="survey",
        customer_id=survey.customer_id,
        context={
            "ticket": ticket,
            "survey_url": survey_url(survey.pk),
            "csat_links": [(score, survey_url(survey.pk, csat=score)) for score in range(1, 6)],
            "nps_links": [(score, survey_url(survey.pk, nps=score)) for score in range(11)],
        },
    )


def referral_ask_email(ask: ReferralAsk, *, code: str) -> EmailMultiAlternatives:
    return _email(
        to=ask.to_address,
        subject="Thank you: would you tell a friend?",
        template="referral_ask",
        customer_id=ask.customer_id,
        context={"customer": ask.customer, "referral_url": referral_url(code)},
    )
