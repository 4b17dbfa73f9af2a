"""Managers reach every model of NextOrder's apps through the Django admin."""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

APPS = ("core", "crm", "desk", "insight")
pytestmark = pytest.mark.django_db


def nextorder_models():
    return [model for label in APPS for model in apps.get_app_config(label).get_models()]


def test_every_model_has_an_admin():
    missing = [model.__name__ for model in nextorder_models() if model not in admin.site._registry]
    assert missing == []


def test_every_changelist_renders(admin_client, ticket):
    for model in nextorder_models():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_every_model_is_named_in_good_english_in_the_admin():
    """Django adds an "s": "Webhook deliverys" and "product affinitys" were listed."""
    plurals = [str(model._meta.verbose_name_plural) for model in apps.get_models()]
    wrong = re.compile(r"[^aeiou]ys$|sss$|[cs]hs$|xs$")
    assert [p for p in plurals if wrong.search(p)] == []
