"""What a log line or an error says about a store's URL: where it is, never its secret."""

from __future__ import annotations

import pytest

from retune.store.outage import redact


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://postgres:s3cret@db.internal:5432/retune",
            "postgresql://postgres@db.internal:5432/retune",
        ),
        ("s3://bucket/prefix?secret_key=s3cret&region=eu", "s3://bucket/prefix?region=eu"),
        ("sqlite:////home/me/.retune/retune.db", "sqlite:////home/me/.retune/retune.db"),  # an absolute path
        ("file:///shared/retune", "file:///shared/retune"),
    ],
)
def test_a_url_is_shown_as_given_less_its_secrets(url: str, shown: str) -> None:
    assert redact(url) == shown
