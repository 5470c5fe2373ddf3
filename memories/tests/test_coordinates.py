import pytest

from core.errors import InvalidInput
from memories.coordinates import parse_coordinate


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("1,2", "1.0,2.0"),
        ("1.0,2.0", "1.0,2.0"),
        (" 1.2 , 3.4,5.6 ", "1.2,3.4,5.6"),
        ("-0.5,1e3", "-0.5,1000.0"),
        ("7", "7.0"),
        ([1, 2.5], "1.0,2.5"),
        (",".join(["1"] * 16), ",".join(["1.0"] * 16)),
    ],
)
def test_canonical_key(raw, key):
    assert parse_coordinate(raw).key == key


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "a,b",
        "1,,2",
        "nan,1",
        "1,inf",
        "Infinity",
        "1e999,1",
        "1_000,2",
        "0x10",
        ",".join(["1"] * 17),
        [],
        [True, 1],
        [float("nan")],
        ["1", 2],
    ],
)
def test_malformed_coordinates_are_refused(raw):
    with pytest.raises(InvalidInput) as excinfo:
        parse_coordinate(raw)
    assert excinfo.value.code == "invalid_coordinate"
