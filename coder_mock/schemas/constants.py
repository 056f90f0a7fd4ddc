"""Schema constants that the serving code needs, in a module that does not import marshmallow.

A start that reads its scenario from the render cache validates nothing, so
it can skip marshmallow (about 40 ms of imports). The schema modules import
these names from here and export them as before.
"""

from __future__ import annotations

import re

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

ALL = "all"
DEFAULT_DRIP_BYTES = 16
DEFAULT_DRIP_INTERVAL_NS = 100_000_000

EXPERIMENTS_KNOWN = (
    "example",
    "auto-fill-parameters",
    "notifications",
    "workspace-usage",
    "web-push",
    "dynamic-parameters",
)
"""codersdk.Experiment values of Coder v2.21; servers may report other names."""
