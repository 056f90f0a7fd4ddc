"""Output of coder_mock.gojson against the bytes Go's encoding/json writes (Go 1.22+)."""

from __future__ import annotations

import pytest

from coder_mock import gojson


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<", '"\\u003c"'),
        (">", '"\\u003e"'),
        ("&", '"\\u0026"'),
        ("<script>a && b</script>", '"\\u003cscript\\u003ea \\u0026\\u0026 b\\u003c/script\\u003e"'),
        ("\u2028", '"\\u2028"'),
        ("\u2029", '"\\u2029"'),
        ('"', '"\\""'),
        ("\\", '"\\\\"'),
        ("/", '"/"'),
        ("'", "\"'\""),
    ],
)
def test_string_html_and_quote_escapes(text: str, expected: str) -> None:
    assert gojson.encode_string(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\b", '"\\b"'),
        ("\f", '"\\f"'),
        ("\n", '"\\n"'),
        ("\r", '"\\r"'),
        ("\t", '"\\t"'),
        ("\x00", '"\\u0000"'),
        ("\x01", '"\\u0001"'),
        ("\x0b", '"\\u000b"'),
        ("\x0e", '"\\u000e"'),
        ("\x1a", '"\\u001a"'),
        ("\x1f", '"\\u001f"'),
    ],
)
def test_string_control_characters(text: str, expected: str) -> None:
    assert gojson.encode_string(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\x7f", '"\x7f"'),
        ("é", '"é"'),
        ("👋", '"👋"'),
        ("\u00a0", '"\u00a0"'),
        ("\ufeff", '"\ufeff"'),
        ("日本語", '"日本語"'),
    ],
)
def test_string_non_ascii_stays_raw(text: str, expected: str) -> None:
    assert gojson.encode_string(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ud800", '"\\ufffd"'),
        ("\udfff", '"\\ufffd"'),
        ("a\udc00b", '"a\\ufffdb"'),
        ("\ud83d", '"\\ufffd"'),
    ],
)
def test_lone_surrogate_becomes_replacement(text: str, expected: str) -> None:
    assert gojson.encode_string(text) == expected


def test_encode_wave_as_utf8_bytes() -> None:
    assert gojson.encode({"message": "👋"}) == b'{"message":"\xf0\x9f\x91\x8b"}\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": 1, "b": [1, 2]}, b'{"a":1,"b":[1,2]}\n'),
        ([], b"[]\n"),
        ({}, b"{}\n"),
        ((1, "x"), b'[1,"x"]\n'),
        ([None, True, False], b"[null,true,false]\n"),
        ({"a": {"b": {"c": []}}}, b'{"a":{"b":{"c":[]}}}\n'),
        ("ok", b'"ok"\n'),
        (None, b"null\n"),
    ],
)
def test_encode_compact_with_newline(value: object, expected: bytes) -> None:
    assert gojson.encode(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"zeta": 1, "alpha": 2, "mid": 3}, b'{"zeta":1,"alpha":2,"mid":3}\n'),
        ({"b": {"z": 1, "a": 2}, "a": 0}, b'{"b":{"z":1,"a":2},"a":0}\n'),
    ],
)
def test_encode_keeps_key_order(value: dict, expected: bytes) -> None:
    assert gojson.encode(value) == expected


def test_encode_escapes_keys() -> None:
    assert gojson.encode({"<k>": "&"}) == b'{"\\u003ck\\u003e":"\\u0026"}\n'


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (9223372036854775807, b"9223372036854775807\n"),
        (-9223372036854775808, b"-9223372036854775808\n"),
        (2592000000000000, b"2592000000000000\n"),
        (0, b"0\n"),
        (-1, b"-1\n"),
    ],
)
def test_encode_integers_exactly(number: int, expected: bytes) -> None:
    assert gojson.encode(number) == expected


@pytest.mark.parametrize(("value", "expected"), [(True, b"true\n"), (False, b"false\n")])
def test_encode_bool_not_int(value: bool, expected: bytes) -> None:
    assert gojson.encode(value) == expected


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (12.0, "12"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (123456789.0, "123456789"),
        (1.5, "1.5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (-12.0, "-12"),
        (0.1, "0.1"),
        (100.0, "100"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (-1e21, "-1e+21"),
        (1.234e25, "1.234e+25"),
        (1e100, "1e+100"),
        (9.99e-7, "9.99e-7"),
        (-1.5e-7, "-1.5e-7"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2.5e-10, "2.5e-10"),
    ],
)
def test_encode_float_go_form(number: float, expected: str) -> None:
    assert gojson.encode_float(number) == expected
    assert gojson.encode(number) == (expected + "\n").encode()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (float("nan"), "Go's encoder cannot encode the float nan"),
        (float("inf"), "Go's encoder cannot encode the float inf"),
        (float("-inf"), "Go's encoder cannot encode the float -inf"),
    ],
)
def test_encode_float_rejects_nonfinite(number: float, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        gojson.encode(number)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (object(), "cannot encode object as JSON"),
        ({1, 2}, "cannot encode set as JSON"),
        (b"bytes", "cannot encode bytes as JSON"),
    ],
)
def test_encode_rejects_unknown_types(value: object, message: str) -> None:
    with pytest.raises(TypeError) as raised:
        gojson.encode(value)
    assert str(raised.value) == message
