"""``[executor] ray_start_timeout``: seconds, 0 for no bound, anything else refused naming the
setting (executors.ray_check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from retune.executors.ray_check import START_TIMEOUT, start_timeout
from retune.settings import ExecutorSettings, Settings, SettingsError, load


def _with(tmp_path: Path, value: str | None) -> Settings:
    return Settings(home=tmp_path, executor=ExecutorSettings(ray_start_timeout=value))


def test_the_start_timeout_defaults_to_five_minutes_and_zero_means_no_bound(tmp_path: Path) -> None:
    assert start_timeout(None) == start_timeout(_with(tmp_path, None)) == START_TIMEOUT == 300
    assert start_timeout(_with(tmp_path, "2.5")) == 2.5
    assert start_timeout(_with(tmp_path, "0")) is None


@pytest.mark.parametrize("value", ["soon", "-1", "inf", "nan"])
def test_a_start_timeout_that_is_no_number_of_seconds_is_refused_naming_the_setting(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(SettingsError, match=rf"\[executor\] ray_start_timeout .* is '{value}'"):
        start_timeout(_with(tmp_path, value))


def test_the_environment_overrides_retune_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "retune.toml").write_text("[executor]\nray_start_timeout = 60\n")
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETUNE_RAY_START_TIMEOUT", raising=False)
    load.cache_clear()
    try:
        from_file = load(tmp_path)
        monkeypatch.setenv("RETUNE_RAY_START_TIMEOUT", "15")
        load.cache_clear()
        from_env = load(tmp_path)
    finally:
        load.cache_clear()

    assert (start_timeout(from_file), start_timeout(from_env)) == (60.0, 15.0)
