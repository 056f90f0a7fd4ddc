"""Version comparison as golang.org/x/mod/semver does it, which coderd uses.

Versions start with `v`, and `v2` and `v2.21` are shorthands for `v2.0.0`
and `v2.21.0`. Build metadata after `+` is ignored. An invalid version sorts
before every valid one and equal to other invalid ones.
"""

from __future__ import annotations

import re

_PATTERN = re.compile(
    r"^v(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(?:\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?)?)?$"
)


def _parse(version: str) -> tuple[str, str, str, str] | None:
    match = _PATTERN.match(version)
    if not match:
        return None
    major, minor, patch, prerelease, build = match.groups()
    if build and "" in build[1:].split("."):
        return None
    if prerelease and any(part == "" or (part.isdigit() and len(part) > 1 and part[0] == "0")
                          for part in prerelease[1:].split(".")):
        return None
    return major, minor or "0", patch or "0", prerelease or ""


def _compare_int(left: str, right: str) -> int:
    if len(left) != len(right):
        return -1 if len(left) < len(right) else 1
    return (left > right) - (left < right)


def _compare_prerelease(left: str, right: str) -> int:
    if left == right:
        return 0
    if not left:
        return 1
    if not right:
        return -1
    left_parts, right_parts = left[1:].split("."), right[1:].split(".")
    for left_part, right_part in zip(left_parts, right_parts):
        if left_part == right_part:
            continue
        left_numeric, right_numeric = left_part.isdigit(), right_part.isdigit()
        if left_numeric and right_numeric:
            return _compare_int(left_part, right_part)
        if left_numeric != right_numeric:
            return -1 if left_numeric else 1
        return -1 if left_part < right_part else 1
    return (len(left_parts) > len(right_parts)) - (len(left_parts) < len(right_parts))


def compare(left: str, right: str) -> int:
    """Return -1, 0 or 1 as `left` sorts before, with or after `right`."""
    parsed_left, parsed_right = _parse(left), _parse(right)
    if parsed_left is None or parsed_right is None:
        return (parsed_left is not None) - (parsed_right is not None)
    for left_part, right_part in zip(parsed_left[:3], parsed_right[:3]):
        order = _compare_int(left_part, right_part)
        if order:
            return order
    return _compare_prerelease(parsed_left[3], parsed_right[3])


def is_current(server_version: str, latest_version: str) -> bool:
    """Return coderd's `current` flag: the server version, cut at its first `-`, is at least the latest."""
    return compare(server_version.split("-", 1)[0], latest_version) >= 0
