"""The factory: discovery through entry points, laziness, conflicts,
unknown names, API versions, and what a factory may return."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from regstore import (
    API_VERSION,
    DriverConflictError,
    DriverNotFoundError,
    DriverRegistry,
    DriverSpec,
    IncompatibleDriverError,
    InvalidParameterError,
    ManagedDriver,
    RegstoreError,
)

#: conftest's FakeEnvironment (tests cannot import conftest by name).
FakeEnvironment = Any


def test_drivers_lists_installed_without_importing(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    alpha_plugin, alpha_driver = fake_env.driver_plugin("alpha")
    beta_plugin, beta_driver = fake_env.driver_plugin("beta")
    fake_env.distribution("regstore-alpha", {"alpha": alpha_plugin}, version="1.2.3")
    fake_env.distribution("regstore-beta", {"beta": beta_plugin}, version="4.5.6")

    infos = registry.drivers()

    assert [(i.name, i.distribution, i.version) for i in infos] == [
        ("alpha", "regstore-alpha", "1.2.3"),
        ("beta", "regstore-beta", "4.5.6"),
    ]
    assert infos[0].target == alpha_plugin
    for module in (alpha_plugin, alpha_driver, beta_plugin, beta_driver):
        assert module not in sys.modules


def test_create_imports_only_that_plugin(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    alpha_plugin, alpha_driver = fake_env.driver_plugin("alpha")
    beta_plugin, beta_driver = fake_env.driver_plugin("beta")
    fake_env.distribution("regstore-alpha", {"alpha": alpha_plugin})
    fake_env.distribution("regstore-beta", {"beta": beta_plugin})

    driver = registry.create("alpha", {"region": "there"})

    assert alpha_plugin in sys.modules
    assert alpha_driver in sys.modules
    assert beta_plugin not in sys.modules
    assert beta_driver not in sys.modules
    assert isinstance(driver, ManagedDriver)
    assert driver.name == "alpha"
    driver.put_content("/x", b"payload")
    assert driver.get_content("/x") == b"payload"
    # Parameters were coerced and defaults filled in before the factory ran.
    assert driver.inner.params == {"accountkey": None, "region": "there"}  # type: ignore[attr-defined]


def test_spec_without_factory_import(fake_env: FakeEnvironment, registry: DriverRegistry) -> None:
    plugin, driver_module = fake_env.driver_plugin("alpha")
    fake_env.distribution("regstore-alpha", {"alpha": plugin})
    spec = registry.spec("alpha")
    assert spec.name == "alpha"
    assert plugin in sys.modules
    assert driver_module not in sys.modules  # the spec names it; only create imports it


def test_duplicate_name_in_two_distributions(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    one, _ = fake_env.driver_plugin("dup", stem="one")
    two, _ = fake_env.driver_plugin("dup", stem="two")
    fake_env.distribution("regstore-dup-one", {"dup": one})
    fake_env.distribution("regstore-dup-two", {"dup": two})

    with pytest.raises(DriverConflictError) as on_create:
        registry.create("dup")
    with pytest.raises(DriverConflictError) as on_list:
        registry.drivers()
    for err in (on_create.value, on_list.value):
        assert "regstore-dup-one" in str(err)
        assert "regstore-dup-two" in str(err)
        assert err.name == "dup"
    assert one not in sys.modules
    assert two not in sys.modules


def test_register_twice_conflicts(registry: DriverRegistry) -> None:
    registry.register("mine", "regstore_inmemory.driver:InMemoryDriver.from_parameters")
    with pytest.raises(DriverConflictError, match="mine"):
        registry.register("mine", "regstore_inmemory.driver:InMemoryDriver.from_parameters")
    # The first registration still works.
    assert registry.create("mine").name == "mine"
    assert [i.name for i in registry.drivers()] == ["mine"]
    assert registry.drivers()[0].distribution == "<code>"


def test_register_over_installed_conflicts(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    plugin, _ = fake_env.driver_plugin("alpha")
    fake_env.distribution("regstore-alpha", {"alpha": plugin})
    with pytest.raises(DriverConflictError) as info:
        registry.register("alpha", "regstore_inmemory.driver:InMemoryDriver.from_parameters")
    assert "regstore-alpha" in str(info.value)
    assert "register()" in str(info.value)


def test_unknown_name_lists_installed(fake_env: FakeEnvironment, registry: DriverRegistry) -> None:
    plugin, _ = fake_env.driver_plugin("alpha")
    fake_env.distribution("regstore-alpha", {"alpha": plugin})
    registry.register("coded", "regstore_inmemory.driver:InMemoryDriver.from_parameters")

    with pytest.raises(DriverNotFoundError) as info:
        registry.create("nosuch")
    err = info.value
    assert isinstance(err, LookupError)
    assert err.name == "nosuch"
    assert err.installed == ["alpha", "coded"]
    assert "alpha, coded" in str(err)
    assert "pip install" not in str(err)  # not one of our drivers: no guess


@pytest.mark.parametrize("name", ["s3", "azure", "gcs", "filesystem"])
def test_unknown_own_driver_gives_pip_line(registry: DriverRegistry, name: str) -> None:
    with pytest.raises(DriverNotFoundError) as info:
        registry.create(name)
    assert f"pip install regstore-{name}" in str(info.value)
    assert "installed: none" in str(info.value)


@pytest.mark.parametrize("version", ["2.0", "0.9", "1.99", "one"])
def test_incompatible_api_version_refused(
    fake_env: FakeEnvironment, registry: DriverRegistry, version: str
) -> None:
    plugin, driver_module = fake_env.driver_plugin("future", api_version=version)
    fake_env.distribution("regstore-future", {"future": plugin})
    with pytest.raises(IncompatibleDriverError) as info:
        registry.create("future")
    message = str(info.value)
    assert "'future'" in message
    assert "regstore-future" in message
    assert version in message
    assert API_VERSION in message
    assert driver_module not in sys.modules


def test_older_minor_api_version_accepted(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    major = API_VERSION.split(".")[0]
    plugin, _ = fake_env.driver_plugin("older", api_version=f"{major}.0")
    fake_env.distribution("regstore-older", {"older": plugin})
    assert registry.create("older").name == "older"


def test_register_incompatible_in_code(registry: DriverRegistry) -> None:
    with pytest.raises(IncompatibleDriverError, match=r"2\.0"):
        registry.register(
            "newer",
            "regstore_inmemory.driver:InMemoryDriver.from_parameters",
            api_version="2.0",
        )


def test_entry_point_naming_a_spec_object(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    _, driver_module = fake_env.driver_plugin("direct")
    module = fake_env.module(
        "direct_spec",
        f"""
        from regstore import DriverSpec
        SPEC = DriverSpec(name="direct", factory="{driver_module}:Driver.from_parameters")
        """,
    )
    fake_env.distribution("regstore-direct", {"direct": f"{module}:SPEC"})
    driver = registry.create("direct")
    driver.put_content("/a", b"1")
    assert driver.list("/") == ["/a"]


def test_entry_point_providing_another_name(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    plugin, _ = fake_env.driver_plugin("actual")
    fake_env.distribution("regstore-liar", {"claimed": plugin})
    with pytest.raises(RegstoreError, match="did not provide a driver named 'claimed'"):
        registry.create("claimed")


def test_entry_point_that_fails_to_import(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    module = fake_env.module("crashing", "raise RuntimeError('plugin exploded')\n")
    fake_env.distribution("regstore-crashing", {"crashing": module})
    with pytest.raises(RegstoreError) as info:
        registry.create("crashing")
    assert "regstore-crashing" in str(info.value)
    assert "plugin exploded" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_factory_returning_non_driver(registry: DriverRegistry) -> None:
    not_a_driver: Any = lambda params: object()  # noqa: E731
    registry.register("bogus", not_a_driver)
    with pytest.raises(RegstoreError, match="not a StorageDriver") as info:
        registry.create("bogus")
    assert "bogus" in str(info.value)


def test_factory_path_that_is_not_module_attribute(registry: DriverRegistry) -> None:
    registry.register("nocolon", "regstore_inmemory.driver.InMemoryDriver")
    with pytest.raises(RegstoreError, match="is not 'module:attribute'"):
        registry.create("nocolon")


def test_unknown_parameter_rejected_by_create(
    fake_env: FakeEnvironment, registry: DriverRegistry
) -> None:
    plugin, _ = fake_env.driver_plugin("alpha")
    fake_env.distribution("regstore-alpha", {"alpha": plugin})
    with pytest.raises(InvalidParameterError) as info:
        registry.create("alpha", {"regoin": "x"})
    assert "regoin" in str(info.value)
    assert "accountkey, region" in str(info.value)


def test_callable_factory_registered_in_code(registry: DriverRegistry) -> None:
    from regstore_inmemory.driver import InMemoryDriver

    seen: list[dict[str, object]] = []

    def factory(params: dict[str, object]) -> InMemoryDriver:
        seen.append(params)
        return InMemoryDriver()

    registry.register("coded", factory)
    driver = registry.create("coded")
    assert seen == [{}]
    assert driver.name == "coded"


def test_registries_do_not_share_state(fake_env: FakeEnvironment) -> None:
    first = DriverRegistry()
    second = DriverRegistry()
    first.register("only-first", "regstore_inmemory.driver:InMemoryDriver.from_parameters")
    assert [i.name for i in second.drivers()] == []
    with pytest.raises(DriverNotFoundError):
        second.create("only-first")


def test_spec_is_a_frozen_description() -> None:
    spec = DriverSpec("x", "mod:attr")
    assert spec.api_version == API_VERSION
    with pytest.raises(AttributeError):
        spec.name = "y"  # type: ignore[misc]


def test_real_installed_inmemory(real_registry: DriverRegistry) -> None:
    names = {i.name: i for i in real_registry.drivers()}
    assert names["inmemory"].distribution == "regstore-inmemory"
    driver = real_registry.create("inmemory")
    assert driver.capabilities.persistent is False
