"""The server's shared state: the active scenario, swapped atomically.

Request handlers read `Store.active` once and use that snapshot for the whole
request, so a switch in flight is seen entirely or not at all. Switches are
serialised by a lock and the new scenario is rendered before the swap, so a
failed switch leaves the previous one live.
"""

from __future__ import annotations

import logging
import threading
import uuid

from coder_mock.catalog import Catalog
from coder_mock.rendering import Rendered

log = logging.getLogger("coder_mock.store")


class UnknownScenario(LookupError):
    """A scenario name that the catalog does not have."""


class Store:
    """The catalog of scenarios and which one is live."""

    def __init__(self, catalog: Catalog, scenario: str = "default", seed: int | None = None) -> None:
        self.catalog = catalog
        self.instance_id = str(uuid.uuid4())
        self.initial = (scenario, seed)
        self._switch_lock = threading.Lock()
        self.active: Rendered = self._rendered(scenario, seed)

    def _rendered(self, name: str, seed: int | None) -> Rendered:
        if name not in self.catalog.entries:
            raise UnknownScenario(name)
        return self.catalog.rendered(name, seed)

    def switch(self, name: str, seed: int | None = None) -> Rendered:
        """Make `name` at `seed` live and return it; raise UnknownScenario for an unknown name."""
        with self._switch_lock:
            rendered = self._rendered(name, seed)
            previous = self.active
            self.active = rendered
        log.info("scenario switched from %s (seed %d) to %s (seed %d)",
                 previous.name, previous.world.seed, rendered.name, rendered.world.seed)
        return rendered

    def reset(self) -> Rendered:
        """Go back to the scenario and seed the server started with."""
        name, seed = self.initial
        return self.switch(name, seed)
