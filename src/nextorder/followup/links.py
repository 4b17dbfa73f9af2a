"""Signed links in the playbook's emails: nobody logs in, the signature is the key.

A survey link is signed with a timestamp when the email is built, so it expires
NEXTORDER_SURVEY_LINK_DAYS after it was sent; it is single use because the answer is
saved by a conditional UPDATE on an unanswered survey. An unsubscribe link never
expires: a customer who wants no more email must always be able to say so.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.urls import reverse

_SURVEY = signing.TimestampSigner(salt="nextorder.followup.survey")
_UNSUBSCRIBE = signing.Signer(salt="nextorder.followup.unsubscribe")


class LinkRefused(Exception):
    """A link that does nothing, with what to tell the person and the status."""

    def __init__(self, reason: str, status: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def survey_token(survey_id: int) -> str:
    return _SURVEY.sign(str(survey_id))


def survey_id_from_token(token: str) -> int:
    try:
        value = _SURVEY.unsign(token, max_age=timedelta(days=settings.NEXTORDER_SURVEY_LINK_DAYS))
    except signing.SignatureExpired as exc:
        raise LinkRefused(
            "This survey link has expired: links work for "
            f"{settings.NEXTORDER_SURVEY_LINK_DAYS} days. Thank you all the same.",
            410,
        ) from exc
    except signing.BadSignature as exc:
        raise LinkRefused(
            "This survey link is not valid: it may have been cut short or changed. "
            "Copy the whole link from the email.",
            400,
        ) from exc
    return int(value)


def survey_url(survey_id: int, **rating: int) -> str:
    url = settings.NEXTORDER_SITE_URL + reverse("followup:survey", args=[survey_token(survey_id)])
    query = "&".join(f"{name}={value}" for name, value in rating.items())
    return f"{url}?{query}" if query else url


def unsubscribe_token(customer_id: int) -> str:
    return _UNSUBSCRIBE.sign(str(customer_id))


def customer_id_from_unsubscribe_token(token: str) -> int:
    try:
        return int(_UNSUBSCRIBE.unsign(token))
    except signing.BadSignature as exc:
        raise LinkRefused(
            "This unsubscribe link is not valid: it may have been cut short or changed. "
            "Copy the whole link from the email, or reply to it and we will take you off.",
            400,
        ) from exc


def unsubscribe_url(customer_id: int) -> str:
    return settings.NEXTORDER_SITE_URL + reverse(
        "followup:unsubscribe", args=[unsubscribe_token(customer_id)]
    )


def referral_url(code: str) -> str:
    return settings.NEXTORDER_SITE_URL + reverse("followup:referral", args=[code])
