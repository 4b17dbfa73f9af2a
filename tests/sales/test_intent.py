"""The buying-intent detector and the other-seller check: plain functions, no database."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nextorder.sales.intent import buying_intent, text_points_elsewhere


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Hi, do you sell spare batteries?", ["do you sell"]),
        ("What is the PRICE FOR two more filters", ["PRICE FOR"]),
        ("I'd like to upgrade to the pro model", ["upgrade"]),
        ("Mine works so well I want another one.", ["another one"]),
        ("Do you\n  also   stock the blue one?", ["Do you also stock"]),
        ("Is the X200 in stock? Price of the X300?", ["in stock", "Price of"]),
        ("We are looking to buy ten for the office", ["looking to buy"]),
        ("I want to renew our plan", ["renew"]),
    ],
)
def test_phrases_of_buying_intent_are_found_as_written(text, found):
    assert buying_intent(text) == found


@pytest.mark.parametrize(
    "text",
    [
        "My order never arrived.",
        "The supgrade kit is broken",  # "upgrade" inside a word
        "This is priceless for me",  # "price" with no "for"
        "Another onerous delay!",  # "another one" inside "onerous"
        "I renewed nothing, please cancel",  # "renewed" is not "renew"/"renewal"
        "",
    ],
)
def test_words_inside_other_words_are_not_intent(text):
    assert buying_intent(text) == []


def test_quoted_earlier_mail_is_not_what_the_customer_says_now():
    text = "Thanks, that fixed it.\n\n> Do you sell the upgrade kit?\n> price for two"
    assert buying_intent(text) == []


def test_each_phrase_is_listed_once():
    assert buying_intent("Upgrade? upgrade! UPGRADE.") == ["Upgrade"]


@given(st.text(max_size=400))
def test_any_text_gives_a_list_of_substrings(text):
    for phrase in buying_intent(text):
        assert " ".join(phrase.split()).lower() in " ".join(text.split()).lower()


OWN = ["nextorder.localhost", "shop.example"]


@pytest.mark.parametrize(
    ("text", "elsewhere"),
    [
        ("Cheaper at https://www.amazon.com/dp/1 today", ["amazon.com"]),
        ("Try ebay.de or rival.co.uk", ["ebay.de", "rival.co.uk"]),
        ("Write to sales@competitor.io for a quote", ["competitor.io"]),
        ("See http://shop.example.evil.net/x", ["shop.example.evil.net"]),
        ("Our page: https://www.shop.example/parts and help.nextorder.localhost", []),
        ("Mail us at support@nextorder.localhost", []),
        ("It broke.Please help, e.g. with v2.0 and manual.pdf", []),
        ("Nothing here points anywhere.", []),
    ],
)
def test_domains_other_than_the_shops_own_are_named(text, elsewhere):
    assert text_points_elsewhere(text, OWN) == elsewhere


def test_a_suffix_of_an_own_domain_is_not_own():
    """notshop.example ends with "shop.example" but is another registrant's name."""
    assert text_points_elsewhere("visit https://notshop.example/", OWN) == ["notshop.example"]
