"""The server's shared state: the active scenario, swapped atomically, and the request journal.

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
from coder_mock.journal import DEFAULT_SIZE, Journal
from coder_mock.rendering import Rendered

log = logging.getLogger("coder_mock.store")


class UnknownScenario(LookupError):
    """A scenario name that the catalog does not have."""


class Store:
    """The catalog of scenarios, which one is live, and the journal of recent requests."""

    def __init__(self, catalog: Catalog, scenario: str = "default", seed: int | None = None,
                 profile: str | None = None, journal_size: int = DEFAULT_SIZE) -> None:
        self.catalog = catalog
        self.journal = Journal(journal_size)
        self.instance_id = str(uuid.uuid4())
        self.initial = (scenario, seed, profile)
        # A profile chosen on the command line or through the admin API wins
        # over the one a scenario file names.
        self.profile = profile
        self._switch_lock = threading.Lock()
        self.active: Rendered = self._rendered(scenario, seed, profile)

    def _rendered(self, name: str, seed: int | None, profile: str | None) -> Rendered:
        if name not in self.catalog.entries:
            raise UnknownScenario(name)
        return self.catalog.rendered(name, seed, profile)

    def switch(self, name: str, seed: int | None = None, profile: str | None = None) -> Rendered:
        """Make `name` at `seed` live and return it; raise UnknownScenario for an unknown name.

        `profile` changes the profile for this and later switches; None keeps the current choice.
        """
        with self._switch_lock:
            chosen = self.profile if profile is None else profile
            rendered = self._rendered(name, seed, chosen)
            previous = self.active
            self.profile = chosen
            self.active = rendered
        log.info("scenario switched from %s (seed %d, %s) to %s (seed %d, %s)",
                 previous.name, previous.world.seed, previous.profile,
                 rendered.name, rendered.world.seed, rendered.profile)
        return rendered

    def reset(self) -> Rendered:
        """Go back to the scenario, seed and profile the server started with.

        The journal keeps its entries; DELETE /__admin/requests clears it.
        """
        name, seed, profile = self.initial
        with self._switch_lock:
            self.profile = profile
        return self.switch(name, seed, profile)

    def replace_catalog(self, catalog: Catalog) -> Rendered:
        """Serve from `catalog` from now on, with the live scenario rendered from it; return the live scenario.

        The live scenario keeps its seed, unless it used the scenario's own seed,
        which then follows the new file. A live scenario that `catalog` lacks
        stays live until the next switch. Raise FileProblem, changing nothing,
        when the live scenario is broken in `catalog`.
        """
        from coder_mock.documents import FileProblem

        with self._switch_lock:
            current = self.active
            name = current.name
            if name in catalog.entries:
                seed = None if current.world.seed == self.catalog.own_seed(name) else current.world.seed
                rendered = catalog.rendered(name, seed, self.profile)
            elif name in catalog.rejected:
                raise FileProblem(catalog.rejected[name])
            else:
                log.warning("scenario %s was removed from the scenario folders; it stays live until the next switch",
                            name)
                rendered = current
            self.catalog = catalog
            self.active = rendered
        return rendered
