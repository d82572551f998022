"""``executors.factory``: one place builds the executor and its check from settings; an unknown
kind is refused naming where it was set and the kinds there are."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pytest

import retune as rt
from retune.executors.base import Refused
from retune.executors.factory import config_check, executor_kind
from retune.settings import ExecutorSettings, Settings, SettingsError, load


@rt.task
def one() -> int:
    return 1


@rt.workflow
def flow() -> int:
    return one()


def _settings(tmp_path: Path, **fields: object) -> Settings:
    return Settings(home=tmp_path, **fields)  # type: ignore[arg-type]


def test_the_default_kind_is_local(tmp_path: Path) -> None:
    assert executor_kind(_settings(tmp_path)) == "local"


def test_an_unknown_kind_from_retune_toml_names_the_file_and_the_known_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "retune.toml").write_text('[executor]\nkind = "dask"\n')
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETUNE_EXECUTOR", raising=False)
    load.cache_clear()
    try:
        settings = load(tmp_path)
    finally:
        load.cache_clear()

    with pytest.raises(SettingsError) as refused:
        config_check(settings)

    message = str(refused.value)
    assert f"Unknown executor 'dask' (set by [executor] kind in {tmp_path / 'retune.toml'})" in message
    assert "the executors are: 'local', 'ray'" in message


def test_an_unknown_kind_from_the_environment_or_the_caller_names_that(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path))
    monkeypatch.setenv("RETUNE_EXECUTOR", "k8s")
    load.cache_clear()
    try:
        settings = load(tmp_path)
    finally:
        load.cache_clear()

    assert settings.executor == ExecutorSettings("k8s", "RETUNE_EXECUTOR")
    with pytest.raises(SettingsError, match=r"Unknown executor 'k8s' \(set by RETUNE_EXECUTOR\)"):
        executor_kind(settings)
    with pytest.raises(SettingsError, match=r"Unknown executor 'dask' \(set by rt.run\(executor=...\)\)"):
        executor_kind(settings, "dask", origin="rt.run(executor=...)")
    assert executor_kind(settings, "local") == "local", "the caller's choice wins over the settings"


def test_the_config_check_refuses_what_the_local_executor_refuses_without_starting_a_process(
    tmp_path: Path,
) -> None:
    check = config_check(_settings(tmp_path, capacity={"cpu": "0.1"}))
    config = next(iter(rt.resolve(flow).values())).config  # retune's defaults: cpu=250m

    with pytest.raises(Refused, match="Unknown task type 'hive'; known types are python, shell, spark, sql"):
        check(config, "hive")
    with pytest.raises(Refused, match="requests cpu=250m but the local executor's capacity is cpu=100m"):
        check(config, "python")


def test_the_ray_address_comes_from_the_environment_over_retune_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "retune.toml").write_text('[executor]\nkind = "ray"\nray_address = "10.0.0.5:6379"\n')
    monkeypatch.setenv("RETUNE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RETUNE_EXECUTOR", raising=False)
    monkeypatch.delenv("RETUNE_RAY_ADDRESS", raising=False)
    load.cache_clear()
    try:
        from_file = load(tmp_path).executor
        monkeypatch.setenv("RETUNE_RAY_ADDRESS", "127.0.0.1:6380")
        load.cache_clear()
        from_env = load(tmp_path).executor
    finally:
        load.cache_clear()

    assert (from_file.kind, from_file.ray_address) == ("ray", "10.0.0.5:6379")
    assert from_env.ray_address == "127.0.0.1:6380"


def test_the_ray_config_check_refuses_unknown_images_and_types_without_a_cluster(tmp_path: Path) -> None:
    check = config_check(_settings(tmp_path, images={"py-here": sys.executable}), kind="ray")
    config = next(iter(rt.resolve(flow).values())).config

    check(config, "python")
    check(replace(config, container_image="py-here"), "python")
    with pytest.raises(Refused, match="Unknown task type 'hive'"):
        check(config, "hive")
    with pytest.raises(
        Refused, match=r"container_image: unknown image 'py312' \(the Ray executor knows: 'py-here'\)"
    ):
        check(replace(config, container_image="py312"), "python")
    with pytest.raises(Refused, match=r"resources.requests.cpu: requests cpu=1500m, but Ray takes"):
        check(replace(config, requests=replace(config.requests, cpu=1.5)), "python")
