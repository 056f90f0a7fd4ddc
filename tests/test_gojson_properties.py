"""Property tests: coder_mock.gojson follows the output rules of Go's encoding/json (Go 1.22+).

The rules come from Go's encode.go. Strings are escaped with HTML escaping on,
as json.NewEncoder does by default. Floats use the shortest digits that
round-trip, in 'f' form inside [1e-6, 1e21) and 'e' form outside it. The
encoder ends every value with one newline.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from coder_mock import gojson

# Derandomized and without an example database, so every run tries the same inputs.
PROPERTY_SETTINGS = settings(max_examples=200, derandomize=True, database=None, deadline=None)

# Characters that Go escapes or that sit at the edges of its rules, mixed into
# arbitrary text so every example run meets them often.
EDGE_CHARACTERS = '<>&"\\/\b\f\n\r\t\x00\x01\x1f\x7f\x80\u00e9\u2027\u2028\u2029\u202a\ud800\udbff\udc00\udfff\ufffd\ufeff\U0001f44b'
HTML_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
ALLOWED_ESCAPE = re.compile(r'\\(["\\bfnrt]|u00[01][0-9a-f]|u003c|u003e|u0026|u2028|u2029|ufffd)')

any_character = st.one_of(st.characters(exclude_categories=()), st.sampled_from(EDGE_CHARACTERS))
any_text = st.text(alphabet=any_character)
# Text that Python's json module writes as Go does: no HTML characters, no U+2028 or U+2029, no surrogates.
plain_text = st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="<>&\u2028\u2029"))
finite_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([1e-6, 9.999999999999999e-7, 1e-7, 1e21, 9.999999999999999e20, 1e20, 5e-324,
                     1.7976931348623157e308, 0.0, -0.0, 0.1, 123456789.0, -1.5e-10]),
)
big_integers = st.integers(min_value=-(10**60), max_value=10**60)


def is_surrogate(char: str) -> bool:
    return 0xD800 <= ord(char) <= 0xDFFF


def go_quote(text: str) -> str:
    """Quote `text` by the rules of Go's appendString with HTML escaping on, written independently of gojson."""
    parts = ['"']
    for char in text:
        code = ord(char)
        if char in SHORT_ESCAPES:
            parts.append(SHORT_ESCAPES[char])
        elif char in HTML_ESCAPES:
            parts.append(HTML_ESCAPES[char])
        elif code < 0x20:
            parts.append("\\u00" + format(code, "02x"))
        elif is_surrogate(char):
            # A lone surrogate cannot be encoded as UTF-8, so it models invalid UTF-8, which Go writes as \ufffd.
            parts.append("\\ufffd")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)


def without_surrogates(text: str) -> str:
    return "".join("\ufffd" if is_surrogate(char) else char for char in text)


# Strings


@PROPERTY_SETTINGS
@given(any_text)
def test_string_matches_go_rules(text: str) -> None:
    assert gojson.encode_string(text) == go_quote(text)


@PROPERTY_SETTINGS
@given(any_text)
def test_string_round_trips(text: str) -> None:
    assert json.loads(gojson.encode_string(text)) == without_surrogates(text)


@PROPERTY_SETTINGS
@given(any_text)
def test_string_has_no_raw_unsafe_characters(text: str) -> None:
    encoded = gojson.encode_string(text)[1:-1]
    raw = [char for char in encoded if char in "<>&\u2028\u2029" or ord(char) < 0x20 or is_surrogate(char)]
    assert raw == []


@PROPERTY_SETTINGS
@given(any_text)
def test_string_uses_only_go_escapes(text: str) -> None:
    encoded = gojson.encode_string(text)[1:-1]
    position = 0
    while True:
        position = encoded.find("\\", position)
        if position < 0:
            break
        match = ALLOWED_ESCAPE.match(encoded, position)
        assert match is not None, f"escape {encoded[position:position + 6]!r} is not one Go writes"
        assert match.group(0) not in ("\\u0008", "\\u000c", "\\u000a", "\\u000d", "\\u0009")
        position = match.end()
    assert '"' not in ALLOWED_ESCAPE.sub("", encoded)


@PROPERTY_SETTINGS
@given(any_text)
def test_string_keeps_other_characters_raw(text: str) -> None:
    encoded = gojson.encode_string(text)
    kept = {char for char in text if ord(char) >= 0x7F and not is_surrogate(char) and char not in HTML_ESCAPES}
    for char in kept:
        assert encoded.count(char) == text.count(char), f"U+{ord(char):04X} was not written raw"


# Numbers


@PROPERTY_SETTINGS
@given(big_integers)
@example(2**63 - 1)
@example(-(2**63))
@example(10**60)
def test_integer_written_exactly(number: int) -> None:
    assert gojson.encode_value(number) == str(number)
    assert gojson.encode(number) == f"{number}\n".encode()


@PROPERTY_SETTINGS
@given(finite_floats)
def test_float_round_trips_shortest(number: float) -> None:
    text = gojson.encode_float(number)

    assert float(text) == number
    # Python's repr is also the shortest text that round-trips, so both name the same decimal.
    assert Decimal(text) == Decimal(repr(number))


@PROPERTY_SETTINGS
@given(finite_floats)
def test_float_form_follows_magnitude(number: float) -> None:
    text = gojson.encode_float(number)

    if number != 0 and not 1e-6 <= abs(number) < 1e21:
        assert re.fullmatch(r"-?[1-9](\.[0-9]*[1-9])?e(-[1-9][0-9]*|\+[1-9][0-9]+)", text), text
    else:
        assert re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?", text), text
    if number == int(number) and 1e-6 <= abs(number) < 1e21:
        assert "." not in text


def test_float_examples_match_go() -> None:
    cases = {
        1e21: "1e+21",
        1e20: "100000000000000000000",
        1e-6: "0.000001",
        1e-7: "1e-7",
        -1.5e-10: "-1.5e-10",
        5e-324: "5e-324",
        1.7976931348623157e308: "1.7976931348623157e+308",
        123456789.0: "123456789",
        0.1: "0.1",
        -0.0: "-0",
    }
    for number, expected in cases.items():
        assert gojson.encode_float(number) == expected, number


# Nested values

plain_values = st.recursive(
    st.none() | st.booleans() | big_integers | plain_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(plain_text, children, max_size=4),
    max_leaves=20,
)
float_values = st.recursive(
    st.none() | st.booleans() | big_integers | finite_floats | plain_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(plain_text, children, max_size=4),
    max_leaves=20,
)
any_values = st.recursive(
    st.none() | st.booleans() | big_integers | finite_floats | any_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4),
    max_leaves=20,
)


def same_value(decoded: Any, original: Any) -> bool:
    """Compare a decoded value with the original: floats by value, keys in order, every other type exactly."""
    if isinstance(original, float):
        return type(decoded) in (int, float) and float(decoded) == original
    if isinstance(original, dict):
        return (isinstance(decoded, dict) and list(decoded) == list(original)
                and all(same_value(decoded[key], original[key]) for key in original))
    if isinstance(original, list):
        return (isinstance(decoded, list) and len(decoded) == len(original)
                and all(same_value(item, expected) for item, expected in zip(decoded, original)))
    return type(decoded) is type(original) and decoded == original


@PROPERTY_SETTINGS
@given(plain_values)
def test_nested_compact_in_key_order(value: Any) -> None:
    # Python's json writes these values as Go does once separators are compact and non-ASCII stays raw.
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"

    assert gojson.encode(value) == expected.encode("utf-8")
    assert json.loads(gojson.encode(value)) == value


@PROPERTY_SETTINGS
@given(float_values)
def test_nested_with_floats_round_trips(value: Any) -> None:
    assert same_value(json.loads(gojson.encode(value)), value)


@PROPERTY_SETTINGS
@given(any_values)
def test_encode_ends_with_one_newline(value: Any) -> None:
    encoded = gojson.encode(value)

    assert encoded.endswith(b"\n")
    assert encoded.count(b"\n") == 1
    assert encoded.decode("utf-8").count("\n") == 1
