"""Start-up work: generated values that skip Faker, and modules a warm or cold start leaves unimported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from faker import Faker

from coder_mock import options
from coder_mock.filling import Filler, derive_seed

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SUBPROCESS_TIMEOUT_SECONDS = 120


@pytest.mark.parametrize("seed", [0, 1, 2, 12345, 2**63])
@pytest.mark.parametrize("path", ["admin.id", "member.id", "deployment_id", ""])
def test_uuid_matches_faker(seed: int, path: str) -> None:
    fake = Faker("en_US")
    fake.seed_instance(derive_seed(seed, "deployment", path))

    assert Filler(seed, "deployment").uuid(path) == fake.uuid4()


def imported_after(code: str, cache_dir: str) -> set[str]:
    """Run `code` in a new interpreter and return the top-level modules it imported."""
    script = code + "\nimport sys\nprint(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=PROJECT_ROOT,
        env={"CODER_MOCK_CACHE_DIR": cache_dir, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
    )
    assert completed.returncode == 0, completed.stderr
    return set(completed.stdout.split())


def test_builtin_scenarios_load_without_faker() -> None:
    modules = imported_after("from coder_mock.catalog import load_catalog\nload_catalog()", "")

    assert "coder_mock" in modules
    assert "faker" not in modules


def test_shipped_options_match_yaml() -> None:
    shipped = json.loads(options.PARSED_FILE.read_text(encoding="utf-8"))
    expected = options.parsed_document(options.OPTIONS_FILE.read_bytes())

    # A failure here means the YAML was edited: run scripts/update-options-json.
    assert shipped["source_sha256"] == expected["source_sha256"]
    assert shipped["document"] == expected["document"]


def test_stale_shipped_options_fall_back_to_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "deployment_options.json"
    stale.write_text(json.dumps({"source_sha256": "0" * 64, "document": {"groups": [], "options": []}}),
                     encoding="utf-8")
    monkeypatch.setattr(options, "PARSED_FILE", stale)
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", "")

    assert options._read() == (options.OPTIONS, options.GROUPS)


SERVE_SCRIPT = """
from coder_mock import cli
args = cli.build_parser().parse_args(["serve", "--port", "0", "--quiet"])
store = cli.build_store(args)
client = cli.create_app(store, quiet=True, cors_origins=[]).test_client()
assert client.get("/api/v2/buildinfo").status_code == 200
"""


def test_cached_start_skips_marshmallow(tmp_path: Path) -> None:
    cold = imported_after(SERVE_SCRIPT, str(tmp_path))
    warm = imported_after(SERVE_SCRIPT, str(tmp_path))

    assert "marshmallow" in cold
    assert "marshmallow" not in warm
    assert "faker" not in warm
