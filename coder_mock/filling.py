"""Deterministic fake values for the fields a fixture leaves out.

Every value is derived from (seed, namespace, field path) alone, never from a
shared random stream or the clock. So the same seed gives the same bytes in
any process or thread, and adding a field to a fixture leaves the values of
the other fields unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import random
import threading
import uuid
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from faker import Faker

# Faker is created on first use, because importing it and building its
# providers took about 60 ms of the start-up (measured with -X importtime),
# and a start that reads its scenario from the render cache fills no values.
_faker: Faker | None = None
_faker_lock = threading.Lock()


def derive_seed(seed: int, namespace: str, path: str) -> int:
    digest = hashlib.sha256(f"{seed}\0{namespace}\0{path}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class Filler:
    """Fake values for one scenario seed and one namespace (an operation or "deployment")."""

    def __init__(self, seed: int, namespace: str) -> None:
        self.seed = seed
        self.namespace = namespace

    def random(self, path: str) -> random.Random:
        return random.Random(derive_seed(self.seed, self.namespace, path))

    def faker(self, path: str, produce: Callable[[Faker], object]) -> object:
        # One Faker instance is reseeded per value; the lock keeps the seed
        # and the draw together when threads render scenarios at once.
        global _faker
        with _faker_lock:
            if _faker is None:
                from faker import Faker

                _faker = Faker("en_US")
            _faker.seed_instance(derive_seed(self.seed, self.namespace, path))
            return produce(_faker)

    def hex(self, path: str, length: int) -> str:
        rng = self.random(path)
        return "".join(rng.choice("0123456789abcdef") for _ in range(length))

    def uuid(self, path: str) -> str:
        # The same value as Faker's uuid4() after seed_instance(derive_seed(...)),
        # which draws 128 bits from a Random seeded the same way (Faker 40).
        # Skipping Faker here keeps it out of any start whose scenario needs no
        # other generated text, which saves about 150 ms of a cold start.
        bits = random.Random(derive_seed(self.seed, self.namespace, path)).getrandbits(128)
        return str(uuid.UUID(int=bits, version=4))

    def commit(self, path: str) -> str:
        return self.hex(path, 40)

    def release_version(self, path: str, commit: str) -> str:
        rng = self.random(path)
        return f"v2.{rng.randint(18, 24)}.{rng.randint(0, 5)}+{commit[:7]}"

    def newer_release(self, path: str, version: str) -> str:
        major, minor = version.lstrip("v").split(".")[:2]
        rng = self.random(path)
        return f"v{major}.{int(minor) + rng.randint(1, 3)}.{rng.randint(0, 3)}"

    def access_url(self, path: str) -> str:
        word = self.faker(path, lambda fake: fake.domain_word())
        suffix = self.faker(path + ".suffix", lambda fake: fake.tld())
        return f"https://coder.{word}.{suffix}"

    def vapid_key(self, path: str) -> str:
        # An uncompressed P-256 point: 0x04 then two 32-byte coordinates.
        rng = self.random(path)
        point = bytes([4]) + bytes(rng.getrandbits(8) for _ in range(64))
        return base64.urlsafe_b64encode(point).decode().rstrip("=")

    def count(self, path: str, low: int = 0, high: int = 250) -> int:
        return self.random(path).randint(low, high)

    def byte_total(self, path: str) -> int:
        return self.random(path).randint(10_000_000, 90_000_000_000)

    def latency(self, path: str, low: float, high: float) -> float:
        return round(self.random(path).uniform(low, high), 3)

    def chance(self, path: str, probability: float) -> bool:
        return self.random(path).random() < probability


GENERATORS: dict[str, Callable[[Filler, str], object]] = {
    "uuid": lambda filler, path: filler.uuid(path),
    "telemetry": lambda filler, path: filler.chance(path, 0.7),
    # coderd sends fixed API versions for a release: the REST agent API is
    # "1.0", and v2.21's provisioner protocol is "1.4".
    "agent_api_version": lambda filler, path: "1.0",
    "provisioner_api_version": lambda filler, path: "1.4",
    "vapid_key": lambda filler, path: filler.vapid_key(path),
    "small_count": lambda filler, path: filler.count(path, 0, 12),
    "count": lambda filler, path: filler.count(path, 0, 250),
    "byte_total": lambda filler, path: filler.byte_total(path),
    "latency_p50": lambda filler, path: filler.latency(path, 8.0, 60.0),
    "latency_p95": lambda filler, path: filler.latency(path, 60.0, 240.0),
}
"""Generators named by a field's `fake`; facts shared across operations live in world.py."""
