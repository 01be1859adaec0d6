"""The forward secret as the Standard Webhooks sender reads it."""

from __future__ import annotations

import pytest

from bridge.adapters.webhooks_out import parse_forward_secrets
from bridge.domain.errors import ConfigurationError


def test_the_forward_secret_is_one_whsec_string_or_a_rotation_list_whose_first_signs() -> None:
    assert parse_forward_secrets("whsec_abc") == ("whsec_abc",)
    assert parse_forward_secrets('["whsec_new", "whsec_old"]') == ("whsec_new", "whsec_old")
    for broken in ("[]", '[""]', "[1]"):
        with pytest.raises(ConfigurationError):
            parse_forward_secrets(broken)
