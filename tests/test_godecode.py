"""coder_mock.godecode against the errors of Go's json.Decoder (encoding/json, Go 1.22+).

A Decoder reads only the first JSON value of a body, so bytes after a complete
value are never an error here.
"""

from __future__ import annotations

import pytest

from coder_mock import godecode
from coder_mock.godecode import MAX_NESTING_DEPTH, Member, quote_byte, scan, unmarshal_error


@pytest.mark.parametrize("body", [b"", b" ", b"\n", b" \t\r\n "])
def test_empty_body_is_eof(body: bytes) -> None:
    assert scan(body).error == "EOF"


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"a"',
        b'{"a":',
        b'{"a":1',
        b'{"a":1,',
        b"[",
        b"[1,",
        b'"abc',
        b'"\\',
        b'"\\u12',
        b"tru",
        b"nul",
        b"fals",
        b"  {  ",
    ],
)
def test_truncated_body_is_unexpected_eof(body: bytes) -> None:
    assert scan(body).error == "unexpected EOF"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"\xff\xfe", "invalid character 'ÿ' looking for beginning of value"),
        (b"\xef\xbb\xbf{}", "invalid character 'ï' looking for beginning of value"),
        (b"not json", "invalid character 'o' in literal null (expecting 'u')"),
        (b"nil", "invalid character 'i' in literal null (expecting 'u')"),
        (b"tRue", "invalid character 'R' in literal true (expecting 'r')"),
        (b"fals3", "invalid character '3' in literal false (expecting 'e')"),
        (b"'a'", "invalid character '\\'' looking for beginning of value"),
        (b"\x00", "invalid character '\\x00' looking for beginning of value"),
        (b"\f{}", "invalid character '\\f' looking for beginning of value"),
        (b"}", "invalid character '}' looking for beginning of value"),
        (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        (b"{1:2}", "invalid character '1' looking for beginning of object key string"),
        (b"{'a':1}", "invalid character '\\'' looking for beginning of object key string"),
        (b'{"a" 1}', "invalid character '1' after object key"),
        (b'{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
        (b'{"a":1]', "invalid character ']' after object key:value pair"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b"[01]", "invalid character '1' after array element"),
        (b"[1}", "invalid character '}' after array element"),
        (b"[1,]", "invalid character ']' looking for beginning of value"),
        (b"[,1]", "invalid character ',' looking for beginning of value"),
    ],
)
def test_syntax_error_texts(body: bytes, error: str) -> None:
    assert scan(body).error == error


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'"a\nb"', "invalid character '\\n' in string literal"),
        (b'"a\tb"', "invalid character '\\t' in string literal"),
        (b'"a\x00b"', "invalid character '\\x00' in string literal"),
        (b'"a\x1fb"', "invalid character '\\x1f' in string literal"),
        (b'"\\x41"', "invalid character 'x' in string escape code"),
        (b'"\\a"', "invalid character 'a' in string escape code"),
        (b'"\\U0041"', "invalid character 'U' in string escape code"),
        (b'"\\\'"', "invalid character '\\'' in string escape code"),
        (b'"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"),
        (b'"\\u"', "invalid character '\"' in \\u hexadecimal character escape"),
        (b'"\\u-123"', "invalid character '-' in \\u hexadecimal character escape"),
    ],
)
def test_string_error_texts(body: bytes, error: str) -> None:
    assert scan(body).error == error


@pytest.mark.parametrize(
    "body",
    [
        b'"\\b\\f\\n\\r\\t\\/\\\\\\""',
        b'"\\u00e9"',
        b'"\\u00E9"',
        b'"\\uD83D\\uDC4B"',
        b'"\\ud800"',
        b'"\x7f\xff raw bytes"',
        '"👋"'.encode(),
    ],
)
def test_valid_strings_scan_cleanly(body: bytes) -> None:
    result = scan(body)
    assert result.error is None
    assert result.kind == "string"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"-", "unexpected EOF"),
        (b"1.", "unexpected EOF"),
        (b"1e", "unexpected EOF"),
        (b"1e+", "unexpected EOF"),
        (b"-a", "invalid character 'a' in numeric literal"),
        (b"--1", "invalid character '-' in numeric literal"),
        (b"1.a", "invalid character 'a' after decimal point in numeric literal"),
        (b"1.e5", "invalid character 'e' after decimal point in numeric literal"),
        (b"1ea", "invalid character 'a' in exponent of numeric literal"),
        (b"1e+-2", "invalid character '-' in exponent of numeric literal"),
        (b"[-]", "invalid character ']' in numeric literal"),
        (b"[1.]", "invalid character ']' after decimal point in numeric literal"),
        (b"[1e]", "invalid character ']' in exponent of numeric literal"),
        (b".5", "invalid character '.' looking for beginning of value"),
        (b"+1", "invalid character '+' looking for beginning of value"),
    ],
)
def test_number_error_texts(body: bytes, error: str) -> None:
    assert scan(body).error == error


@pytest.mark.parametrize(
    "body", [b"0", b"-0", b"1.5e3", b"1.5E-3", b"1e+10", b"123", b"-12.75", b"0.0", b"9223372036854775807"]
)
def test_valid_numbers_scan_cleanly(body: bytes) -> None:
    result = scan(body)
    assert result.error is None
    assert result.kind == "number"


def test_depth_limit_is_ten_thousand() -> None:
    assert MAX_NESTING_DEPTH == 10000


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 10001, "invalid character '[' exceeded max depth"),
        (b'{"a":' * 10000 + b"[", "invalid character '[' exceeded max depth"),
        (b"[" * 10000 + b"{", "invalid character '{' exceeded max depth"),
        (b"[" * 10000, "unexpected EOF"),
    ],
)
def test_depth_limit_errors(body: bytes, error: str) -> None:
    assert scan(body).error == error


def test_depth_limit_allows_ten_thousand() -> None:
    result = scan(b"[" * 10000 + b"]" * 10000)
    assert result.error is None
    assert result.kind == "array"


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"{}garbage", "object"),
        (b'{"a":1}{"b":2}', "object"),
        (b"[] ]", "array"),
        (b"1 x", "number"),
        (b"1x", "number"),
        (b"truex", "bool"),
        (b'"a"x', "string"),
        (b"null,", "null"),
        (b"{} \xff", "object"),
    ],
)
def test_trailing_data_accepted(body: bytes, kind: str) -> None:
    result = scan(body)
    assert result.error is None
    assert result.kind == kind


@pytest.mark.parametrize(
    ("body", "end"),
    [
        (b"{}", 1),
        (b"{}garbage", 1),
        (b'  {"a":1}  ', 8),
        (b"[1,2]", 4),
        (b'"x"', 2),
        (b'"a"x', 2),
        (b"true", 3),
        (b"truex", 3),
        (b"1.5e3", 4),
        (b"12 ", 1),
    ],
)
def test_scan_end_is_last_byte(body: bytes, end: int) -> None:
    # The CSP handler logs body[:end + 1], so `end` must index the value's last byte.
    assert scan(body).end == end


@pytest.mark.parametrize(
    ("body", "limit", "kind"),
    [
        (b'{"a":1}', 7, "object"),
        (b'{"a":1}xxxxxxxx', 7, "object"),
        (b"[1,2]" + b" " * 100, 5, "array"),
        (b'{"a":1}   ', 8, "object"),
        (b"123", 3, "number"),
        (b"123 456", 4, "number"),
        (b"true, and more", 5, "bool"),
        (b'"ab" and more', 5, "string"),
    ],
)
def test_value_within_limit_accepted(body: bytes, limit: int, kind: str) -> None:
    result = scan(body, limit)
    assert result.error is None
    assert result.kind == kind


@pytest.mark.parametrize(
    ("body", "limit"),
    [
        (b'{"a":1}', 6),
        (b'{"a":1,"b":2}', 3),
        (b"123456", 3),
        (b"123 ", 3),
        (b"true, and more", 4),
        (b'"ab" and more', 4),
        (b"   {}", 2),
        (b"x", 0),
    ],
)
def test_incomplete_at_limit_too_large(body: bytes, limit: int) -> None:
    assert scan(body, limit).error == "too large"


@pytest.mark.parametrize(
    ("body", "limit", "error"),
    [
        (b'{"a":1,}' + b" " * 100, 10, "invalid character '}' looking for beginning of object key string"),
        (b'{"a"', 100, "unexpected EOF"),
        (b"", 100, "EOF"),
        (b"   ", 3, "EOF"),
    ],
)
def test_limit_keeps_other_errors(body: bytes, limit: int, error: str) -> None:
    assert scan(body, limit).error == error


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b"{}", "object"),
        (b"[]", "array"),
        (b'"s"', "string"),
        (b"true", "bool"),
        (b"false", "bool"),
        (b"null", "null"),
        (b"-1", "number"),
        (b"0", "number"),
        (b" \n[1]", "array"),
    ],
)
def test_top_level_kind(body: bytes, kind: str) -> None:
    result = scan(body)
    assert result.error is None
    assert result.kind == kind


@pytest.mark.parametrize(
    ("body", "members"),
    [
        (b"{}", []),
        (
            b'{"a":{"b":1},"c":[1],"d":"x","e":true,"f":null,"g":-1,"h":false}',
            [
                Member("a", "object"),
                Member("c", "array"),
                Member("d", "string"),
                Member("e", "bool"),
                Member("f", "null"),
                Member("g", "number"),
                Member("h", "bool"),
            ],
        ),
        (b'{"k":{"inner":1,"deeper":{"x":2}}}', [Member("k", "object")]),
        (b'{ "a" : 1 , "a" : "2" }', [Member("a", "number"), Member("a", "string")]),
        (b'{"\\u00e9":1}', [Member("é", "number")]),
        (b'{"a\\"b":[]}', [Member('a"b', "array")]),
        (b'{"csp-report":{"blocked-uri":"x"}}', [Member("csp-report", "object")]),
        (b'[{"a":1}]', []),
        (b'"{\\"a\\":1}"', []),
    ],
)
def test_top_level_members(body: bytes, members: list[Member]) -> None:
    result = scan(body)
    assert result.error is None
    assert result.members == members


def test_error_scan_has_no_shape() -> None:
    result = scan(b'{"a":1,}')
    assert result.kind == ""
    assert result.members == []


@pytest.mark.parametrize(
    ("byte", "quoted"),
    [
        (0x00, "'\\x00'"),
        (0x07, "'\\a'"),
        (0x08, "'\\b'"),
        (0x09, "'\\t'"),
        (0x0A, "'\\n'"),
        (0x0B, "'\\v'"),
        (0x0C, "'\\f'"),
        (0x0D, "'\\r'"),
        (0x1F, "'\\x1f'"),
        (0x20, "' '"),
        (0x7F, "'\\x7f'"),
        (0x80, "'\\u0080'"),
        (0x9F, "'\\u009f'"),
        (0xA0, "'\\u00a0'"),
        (0xAD, "'\\u00ad'"),
        (0xC3, "'Ã'"),
        (0xFF, "'ÿ'"),
        (ord('"'), "'\"'"),
        (ord("'"), "'\\''"),
        (ord("\\"), "'\\'"),
        (ord("a"), "'a'"),
    ],
)
def test_quote_byte_like_go(byte: int, quoted: str) -> None:
    assert quote_byte(byte) == quoted


@pytest.mark.parametrize(
    ("arguments", "text"),
    [
        (("array", "coderd.cspViolation"), "json: cannot unmarshal array into Go value of type coderd.cspViolation"),
        (("string", "int64"), "json: cannot unmarshal string into Go value of type int64"),
        (("number", "string"), "json: cannot unmarshal number into Go value of type string"),
        (
            ("string", "map[string]interface {}", "csp-report", "cspViolation"),
            "json: cannot unmarshal string into Go struct field cspViolation.csp-report"
            " of type map[string]interface {}",
        ),
        (
            ("bool", "int64", "workspaces.pending", "codersdk.DeploymentStats"),
            "json: cannot unmarshal bool into Go struct field codersdk.DeploymentStats.workspaces.pending"
            " of type int64",
        ),
    ],
)
def test_unmarshal_error_texts(arguments: tuple[str, ...], text: str) -> None:
    assert unmarshal_error(*arguments) == text


def test_scan_result_defaults() -> None:
    assert godecode.Scan() == godecode.Scan(error=None, end=0, kind="", members=[])
