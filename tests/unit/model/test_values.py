"""Typed values: every supported type round-trips exactly through JSON and the blob store."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import math
import subprocess
import sys
import typing
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, NewType, Optional, TypedDict

import pydantic
import pytest

from retune.model.values import PICKLE, Directory, File, Pickled, check, decode, encode


class MemoryBlobs:
    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.puts = 0

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.data[key] = data

    def get(self, key: str) -> bytes:
        return self.data[key]

    def exists(self, key: str) -> bool:
        return key in self.data


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclasses.dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str | None = None


@dataclasses.dataclass
class Tree:
    name: str
    children: list[Tree] = dataclasses.field(default_factory=list)
    color: Color = Color.RED
    size: int = dataclasses.field(init=False, default=0)


class Pair(NamedTuple):
    left: int
    right: str = "r"


class Movie(TypedDict):
    title: str
    year: int


class Model(pydantic.BaseModel):
    name: str
    when: datetime.datetime
    tags: list[str] = []


UserId = NewType("UserId", int)


class Opaque:
    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def _tree() -> Tree:
    tree = Tree("root", [Tree("leaf", color=Color.GREEN)])
    tree.size = 2
    return tree


ROUND_TRIPS: list[tuple[Any, Any]] = [
    (7, int),
    (-2.5, float),
    (math.inf, float),
    (-math.inf, float),
    ("héllo", str),
    (True, bool),
    (None, None),
    (None, type(None)),
    ([1, 2, 3], list[int]),
    ([[1.5], []], list[list[float]]),
    ({"a": 1, "b": 2}, dict[str, int]),
    ({1: "one", 2: "two"}, dict[int, str]),
    ({(1, 2): "p"}, dict[tuple[int, int], str]),
    ({Color.RED: 1}, dict[Color, int]),
    ((1, "a", 2.5), tuple[int, str, float]),
    ((1, 2, 3), tuple[int, ...]),
    ((), tuple[()]),
    ({3, 1, 2}, set[int]),
    (frozenset({"b", "a"}), frozenset[str]),
    (None, Optional[int]),  # noqa: UP045 - both spellings appear in user code
    (5, int | None),
    (5, int | str),
    ("5", int | str),
    (True, bool | int),
    ("b", Literal["a", "b"]),
    (Color.GREEN, Color),
    (Level.HIGH, Level),
    (Point(1.0, 2.0), Point),
    (Point(1.0, 2.0, "p"), Optional[Point]),  # noqa: UP045
    (_tree(), Tree),
    (Pair(1), Pair),
    ({"title": "Alien", "year": 1979}, Movie),
    (Model(name="m", when=datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.UTC), tags=["x"]), Model),
    (datetime.datetime(2024, 5, 1, 12, 30, 15, 123456), datetime.datetime),
    (datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=2))), datetime.datetime),
    (datetime.date(2024, 2, 29), datetime.date),
    (datetime.time(23, 59, 1, 5), datetime.time),
    (datetime.timedelta(days=2, seconds=5), datetime.timedelta),
    (datetime.timedelta(seconds=-1, microseconds=7), datetime.timedelta),
    (uuid.UUID("12345678-1234-5678-1234-567812345678"), uuid.UUID),
    (decimal.Decimal("1.10"), decimal.Decimal),
    (UserId(4), UserId),
    (b"\x00\xffbytes", bytes),
    ([b"a", b"b"], list[bytes]),
    ({"k": [1, "x", None, 2.5, {"n": True}]}, dict),
    ([1, [2, "three"]], Any),
    ([1, [2, "x"]], list),
    (4, Annotated[int, "metadata"]),
]


@pytest.mark.parametrize(("value", "annotation"), ROUND_TRIPS, ids=lambda v: repr(v)[:40])
def test_supported_values_round_trip_exactly_through_json(value: Any, annotation: Any) -> None:
    blobs = MemoryBlobs()

    encoded = encode(value, annotation, blobs=blobs)
    decoded = decode(json.loads(json.dumps(encoded, allow_nan=False)), annotation, blobs=blobs)

    assert decoded == value
    assert type(decoded) is type(value)


def test_nan_round_trips_as_strict_json() -> None:
    encoded = encode(math.nan, float)

    assert json.dumps(encoded, allow_nan=False) == '"NaN"'
    assert math.isnan(decode(encoded, float))


def test_primitives_are_their_own_encoding() -> None:
    assert encode([1, 2], list[int]) == [1, 2]
    assert encode({"a": [True]}, dict[str, list[bool]]) == {"a": [True]}
    assert encode(Color.RED, Color) == "red"
    assert encode(Point(1, 2), Point) == {"x": 1.0, "y": 2.0, "label": None}
    assert encode(datetime.date(2024, 1, 2), datetime.date) == "2024-01-02"
    assert encode(datetime.timedelta(minutes=1), datetime.timedelta) == 60


def test_ints_given_for_floats_become_floats() -> None:
    assert encode([1, 2.5], list[float]) == [1.0, 2.5]
    assert type(encode(1, float)) is float


def test_int_and_str_subclasses_are_stored_as_their_plain_value() -> None:
    assert type(encode(Level.HIGH, int)) is int
    assert encode(Level.HIGH, int) == 2


def test_a_value_of_the_wrong_type_names_where_it_is() -> None:
    with pytest.raises(TypeError, match=r"list\[int\] at \[1\]: expected int, got str 'a'"):
        encode([1, "a"], list[int])
    with pytest.raises(TypeError, match=r"at \.children\[0\]\.name: expected str"):
        encode(Tree("root", [Tree(3)]), Tree)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expected bool, got int"):
        encode(1, bool)
    with pytest.raises(TypeError, match="expected int, got bool"):
        encode(True, int)


def test_decoding_checks_the_data_against_the_annotation() -> None:
    with pytest.raises(TypeError, match=r"Cannot decode a value as int: expected int, got float"):
        decode(1.5, int)
    with pytest.raises(TypeError, match="Point has no field 'z'"):
        decode({"x": 1.0, "y": 2.0, "z": 3}, Point)
    with pytest.raises(TypeError, match="Point needs field 'y'"):
        decode({"x": 1.0}, Point)
    with pytest.raises(TypeError, match=r"'blue' is not a value of .*Color \('red', 'green'\)"):
        decode("blue", Color)
    with pytest.raises(TypeError, match="a JSON array of 2"):
        decode([1], tuple[int, int])
    with pytest.raises(TypeError, match="validation error"):
        decode({"name": "m"}, Model)


def test_a_date_annotation_refuses_a_datetime_that_would_lose_its_time() -> None:
    with pytest.raises(TypeError, match="expected date, got datetime"):
        encode(datetime.datetime(2024, 1, 1, 12), datetime.date)


def test_a_subclass_instance_is_refused_rather_than_losing_its_fields() -> None:
    @dataclasses.dataclass(frozen=True)
    class Point3(Point):
        z: float = 0.0

    with pytest.raises(TypeError, match=r"subclass of .*Point whose extra fields would be lost"):
        encode(Point3(1, 2), Point)


def test_unsupported_types_are_refused_with_the_type_and_how_to_opt_in() -> None:
    with pytest.raises(TypeError) as refused:
        encode(Opaque(1), Opaque)

    message = str(refused.value)
    assert "test_values.Opaque" in message
    assert "rt.Pickled[" in message
    assert "dataclass" in message


def test_check_refuses_an_unsupported_field_type_naming_the_field() -> None:
    @dataclasses.dataclass
    class Holder:
        thing: Opaque

    with pytest.raises(TypeError, match=r"Field 'thing' of .*Holder: .*Opaque"):
        check(Holder)


def test_unions_of_classes_are_refused_as_ambiguous() -> None:
    with pytest.raises(TypeError, match="cannot be decoded unambiguously"):
        check(Point | Tree)


def test_without_an_annotation_only_self_describing_values_pass() -> None:
    blobs = MemoryBlobs()
    assert decode(encode(b"raw", Any, blobs=blobs), Any, blobs=blobs) == b"raw"

    with pytest.raises(TypeError, match="annotate the parameter or return value with its type"):
        encode((1, 2), Any)
    with pytest.raises(TypeError, match="annotate"):
        encode(datetime.date(2024, 1, 1))
    with pytest.raises(TypeError, match="expected str keys"):
        encode({1: "a"}, Any)


def test_bytes_are_stored_once_by_content() -> None:
    blobs = MemoryBlobs()

    first = encode(b"payload", bytes, blobs=blobs)
    second = encode([b"payload"], list[bytes], blobs=blobs)

    key = first["$bytes"]
    assert key.startswith("values/") and len(key) == len("values/") + 64
    assert second == [first]
    assert blobs.puts == 1


def test_bytes_need_a_blob_store() -> None:
    with pytest.raises(TypeError, match="travel through the blob store"):
        encode(b"x", bytes)


def test_a_file_round_trips_by_content_under_its_name(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    source = tmp_path / "data.csv"
    source.write_text("a,b\n1,2\n")

    encoded = encode(File(source), File, blobs=blobs)
    decoded = decode(encoded, File, blobs=blobs, workdir=tmp_path / "out")

    assert encoded["name"] == "data.csv"
    assert decoded.path != source
    assert decoded.path.name == "data.csv"
    assert decoded.read_text() == "a,b\n1,2\n"
    assert str(decoded.path).startswith(str(tmp_path / "out"))


def test_a_directory_round_trips_its_tree_and_encodes_by_content_only(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    for root in ("one", "two"):
        (tmp_path / root / "sub").mkdir(parents=True)
        (tmp_path / root / "a.txt").write_text("A")
        (tmp_path / root / "sub" / "b.bin").write_bytes(b"\x00B")

    encoded = encode(Directory(tmp_path / "one"), Directory, blobs=blobs)
    again = encode(Directory(tmp_path / "two"), Directory, blobs=blobs)
    decoded = decode(encoded, Directory, blobs=blobs, workdir=tmp_path / "out")

    assert encoded["$dir"] == again["$dir"]
    assert (decoded.path / "a.txt").read_text() == "A"
    assert (decoded.path / "sub" / "b.bin").read_bytes() == b"\x00B"


def test_a_path_is_stored_as_a_file_or_a_directory_by_what_is_on_disk(tmp_path: Path) -> None:
    blobs = MemoryBlobs()
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "f").write_text("in dir")
    (tmp_path / "file").write_text("alone")

    as_dir = decode(encode(tmp_path / "dir", Path, blobs=blobs), Path, blobs=blobs, workdir=tmp_path / "o")
    as_file = decode(encode(tmp_path / "file", Path, blobs=blobs), Path, blobs=blobs, workdir=tmp_path / "o")

    assert isinstance(as_dir, Path) and (as_dir / "f").read_text() == "in dir"
    assert isinstance(as_file, Path) and as_file.read_text() == "alone"


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cannot read file .*nope"):
        encode(File(tmp_path / "nope"), File, blobs=MemoryBlobs())


def test_pickling_is_opt_in_and_warns() -> None:
    blobs = MemoryBlobs()

    with pytest.warns(UserWarning, match=r"Pickling a .*Opaque for rt.Pickled"):
        encoded = encode(Opaque(3), Pickled[Opaque], blobs=blobs)

    assert set(encoded) == {"$pickle"}
    assert decode(encoded, Pickled[Opaque], blobs=blobs) == Opaque(3)
    assert decode(encoded, Annotated[Opaque, PICKLE], blobs=blobs) == Opaque(3)


def test_importing_the_codec_loads_no_third_party_module() -> None:
    probe = (
        "import sys, json; import retune.model.values as v; "
        "v.encode([1], list[int]); v.decode({'a': 1}, dict[str, int]); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'cloudpickle', 'yaml', 'sqlalchemy', 'fsspec'))))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_typing_spellings_of_containers_are_understood() -> None:
    assert decode(encode([1], typing.List[int]), typing.List[int]) == [1]  # noqa: UP006
    assert decode(encode({"a": 1}, typing.Dict[str, int]), typing.Dict[str, int]) == {"a": 1}  # noqa: UP006
