"""API keys: three parts of letters and digits (MAAS's form), so no part reads as an option."""
import re

from nodes.models.apikey import ApiKey


def test_key_parts_are_letters_and_digits_only():
    for _ in range(200):
        parts = ApiKey.new_parts()
        assert [len(part) for part in parts] == [18, 18, 32]
        assert all(re.fullmatch(r"[A-Za-z0-9]+", part) for part in parts), parts
