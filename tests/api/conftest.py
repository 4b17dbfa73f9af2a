from __future__ import annotations

import pytest
from django.test import Client

from nextorder.core.services import api_token_create


@pytest.fixture
def api_client():
    """A client whose every request carries a new token of `user`."""

    def make(user) -> Client:
        _token, secret = api_token_create(user=user, name=f"tests {user}", actor=None)
        return Client(headers={"Authorization": f"Bearer {secret}"})

    return make
