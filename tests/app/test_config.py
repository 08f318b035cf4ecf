"""Settings read from the environment."""

from __future__ import annotations

import pytest

from app.config import Settings


def test_the_pause_that_splits_a_time_ordered_line_is_configurable():
    assert Settings.from_env({}).pause_steps == 10
    assert Settings.from_env({"KDMON_PAUSE_STEPS": "60"}).pause_steps == 60
    with pytest.raises(ValueError, match="KDMON_PAUSE_STEPS must be an integer, got 'long'"):
        Settings.from_env({"KDMON_PAUSE_STEPS": "long"})
