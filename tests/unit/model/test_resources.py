"""``Resources`` (partial, as a layer says it) and ``ResolvedResources`` (fully resolved)."""

import dataclasses

import pytest

from retune.model import ResolvedResources, Resources, ResourceSpec

GI = 2**30


def test_resources_are_normalised_when_built() -> None:
    resources = Resources(cpu="500m", mem="1Gi", gpu="1", storage="10Gi")
    assert (resources.cpu, resources.mem, resources.gpu, resources.storage) == (0.5, GI, 1, 10 * GI)


def test_spellings_of_the_same_quantity_are_equal() -> None:
    assert Resources(cpu="1") == Resources(cpu=1) == Resources(cpu="1000m")
    assert Resources(mem="1Gi") == Resources(mem=GI) == Resources(mem="1024Mi")
    assert Resources(mem="1G") != Resources(mem="1Gi")


def test_unnamed_resources_are_none_and_left_out() -> None:
    resources = Resources(mem="512Mi")
    assert resources.cpu is None
    assert resources.items() == [("mem", 512 * 2**20)]
    assert resources.to_dict() == {"mem": 512 * 2**20}
    assert not Resources()
    assert Resources(gpu=0)  # zero is a value, not "unset"


def test_to_dict_is_in_canonical_order() -> None:
    resources = Resources(storage="1Gi", gpu=2, mem="1Gi", cpu=1)
    assert list(resources.to_dict()) == ["cpu", "mem", "gpu", "storage"]


def test_from_dict_round_trips_and_refuses_unknown_names() -> None:
    resources = Resources(cpu="250m", mem="2Gi")
    assert Resources.from_dict(resources.to_dict()) == resources
    with pytest.raises(KeyError, match="memory"):
        Resources.from_dict({"memory": "1Gi"})


@pytest.mark.parametrize(
    ("resources", "shown"),
    [
        (Resources(cpu="500m", mem="1Gi"), "Resources(cpu='500m', mem='1Gi')"),
        (Resources(cpu=2, gpu=1), "Resources(cpu='2', gpu='1')"),
        (Resources(mem=1500), "Resources(mem='1500')"),
        (Resources(storage="1536Mi"), "Resources(storage='1536Mi')"),
        (Resources(), "Resources()"),
    ],
)
def test_repr_uses_kubernetes_spelling(resources: Resources, shown: str) -> None:
    assert repr(resources) == shown


def test_repr_can_be_read_back() -> None:
    resources = Resources(cpu="1500m", mem="3Gi", gpu=2, storage="10Gi")
    assert eval(repr(resources), {"Resources": Resources}) == resources


def test_resources_are_immutable() -> None:
    resources = Resources(cpu=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        resources.cpu = 2.0  # type: ignore[misc]


def test_resource_spec_to_dict_names_only_what_it_sets() -> None:
    spec = ResourceSpec(requests=Resources(cpu=1))
    assert spec.to_dict() == {"requests": {"cpu": 1.0}}
    assert ResourceSpec().to_dict() == {}


def test_resolved_resources_round_trip_and_repr() -> None:
    resolved = ResolvedResources(cpu=0.5, mem=GI, gpu=0, storage=0)
    assert ResolvedResources.from_dict(resolved.to_dict()) == resolved
    assert repr(resolved) == "ResolvedResources(cpu=500m, mem=1Gi, gpu=0, storage=0)"
