"""The root conftest's scrubbing of provider keys and hosts holds in this folder too.

This folder's conftest once overrode the root's ``sparklio_home`` fixture, which did the
scrubbing, and a local ``sparklio run`` test handed the developer's environment to a
subprocess whose fallback is paid DALL-E 3 (issue 10).
"""

from __future__ import annotations

from tests.test_environment import assert_scrubbed


def test_no_provider_key_or_host_is_visible_inside_a_local_test() -> None:
    assert_scrubbed()
