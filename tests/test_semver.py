"""coder_mock.semver against golang.org/x/mod/semver.Compare and coderd's `current` flag."""

from __future__ import annotations

import pytest

from coder_mock.semver import compare, is_current


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("v1.0.0", "v2.0.0"),
        ("v2.0.0", "v2.1.0"),
        ("v2.1.0", "v2.1.1"),
        ("v1.9.0", "v1.10.0"),
        ("v1.0.9", "v1.0.10"),
        ("v2.21.3", "v2.24.1"),
        ("v0.0.0-devel", "v0.0.0"),
        ("v1.0.0-alpha", "v1.0.0-alpha.1"),
        ("v1.0.0-alpha.1", "v1.0.0-alpha.beta"),
        ("v1.0.0-alpha.beta", "v1.0.0-beta"),
        ("v1.0.0-beta", "v1.0.0-beta.2"),
        ("v1.0.0-beta.2", "v1.0.0-beta.11"),
        ("v1.0.0-beta.11", "v1.0.0-rc.1"),
        ("v1.0.0-rc.1", "v1.0.0"),
        ("v1.0.0-0", "v1.0.0-a"),
        ("v1.0.0-9", "v1.0.0-10"),
        ("v1.0.0-Z", "v1.0.0-a"),
        ("v2.22.0-rc.1", "v2.22.0"),
        ("v2.21.3", "v2.22.0-rc.1"),
    ],
)
def test_compare_orders_versions(lower: str, higher: str) -> None:
    assert compare(lower, higher) == -1
    assert compare(higher, lower) == 1


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("v2.21.3", "v2.21.3"),
        ("v2.21.3+abc1234", "v2.21.3"),
        ("v2.21.3+abc", "v2.21.3+def"),
        ("v1", "v1.0.0"),
        ("v1.2", "v1.2.0"),
        ("v1.0.0-rc.1+build.5", "v1.0.0-rc.1"),
        ("v0.0.0-devel+abc", "v0.0.0-devel"),
    ],
)
def test_compare_equal_versions(left: str, right: str) -> None:
    assert compare(left, right) == 0
    assert compare(right, left) == 0


@pytest.mark.parametrize(
    "invalid",
    [
        "",
        "2.21.3",
        "V2.21.3",
        "v",
        "v2.",
        "v2.21.",
        "v2.21.3.4",
        "v01.2.3",
        "v1.02.3",
        "v1.2.03",
        "v1-rc.1",
        "v1.2-rc.1",
        "v1.2+build",
        "v1.0.0-",
        "v1.0.0-01",
        "v1.0.0-a..b",
        "v1.0.0-a.",
        "v1.0.0-a_b",
        "v1.0.0+",
        "v1.0.0+a+b",
        "v1.0.0+.",
        "v1.0.0+a..b",
        "v1.0.0+a.",
        "v1.0.0+.a",
        "v1.0.0 ",
        "latest",
    ],
)
def test_invalid_sorts_before_valid(invalid: str) -> None:
    assert compare(invalid, "v0.0.0") == -1
    assert compare("v0.0.0", invalid) == 1
    assert compare(invalid, "not-a-version") == 0


@pytest.mark.parametrize("valid", ["v1.0.0-00a", "v1.0.0-0", "v1.0.0+001", "v1.0.0-x-y-z.--", "v1.0.0+a-b.c"])
def test_unusual_versions_are_valid(valid: str) -> None:
    assert compare(valid, "bogus") == 1
    assert compare(valid, valid) == 0


@pytest.mark.parametrize(
    ("server", "latest", "current"),
    [
        ("v0.0.0-devel+abc", "v2.21.3", False),
        ("v2.22.0-rc.1", "v2.21.3", True),
        ("v2.21.3+abc", "v2.21.3", True),
        ("v2.21.3", "v2.24.1", False),
        ("v2.21.3", "v2.21.3", True),
        ("v2.24.1", "v2.21.3", True),
        ("v2.21.3-rc.1", "v2.21.3", True),
        ("v2.21.3+abc-def", "v2.21.3", True),
        ("v2.21.2-rc.9", "v2.21.3", False),
        ("v2.21.3", "v2.22.0-rc.1", False),
        ("v2.22.0", "v2.22.0-rc.1", True),
    ],
)
def test_is_current_cuts_prerelease(server: str, latest: str, current: bool) -> None:
    assert is_current(server, latest) is current


@pytest.mark.parametrize(
    ("server", "latest", "current"),
    [
        ("2.21.3", "v2.21.3", False),
        ("dev", "v0.0.1", False),
        ("v2.21.3", "2.24.1", True),
        ("garbage", "also-garbage", True),
    ],
)
def test_is_current_invalid_versions(server: str, latest: str, current: bool) -> None:
    assert is_current(server, latest) is current
