"""Loading scenarios on first use, the render cache, and replacing a store's catalog.

Tests with user folders run inside tmp_path, so user files show as
`my-scenarios/NAME.yaml`.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import threading
from pathlib import Path

import pytest

from coder_mock import catalog as catalog_module
from coder_mock.app import create_app
from coder_mock.catalog import Catalog, load_catalog, open_catalog
from coder_mock.cli import build_parser, build_store
from coder_mock.documents import FileProblem
from coder_mock.render_cache import RenderCache, cached_data, default_folder
from coder_mock.store import Store, UnknownScenario
from conftest import BUILTIN_SCENARIOS, write

GOOD_TOKEN = "abcde12345-abcdefghijklmnopqrstuv"
BROKEN_SEED = ("description: Broken.\nseed: 1.5\n", ["my-scenarios/broken.yaml: seed: invalid value 1.5: expected an integer."])


def loaded_names(catalog: Catalog) -> list[str]:
    return sorted(name for name, entry in catalog.all_entries.items() if entry.loaded)


def buildinfo(rendered) -> dict:
    return json.loads(rendered.replies["build-info"].body)


def test_open_catalog_loads_nothing() -> None:
    catalog = open_catalog()

    assert catalog.names() == sorted(BUILTIN_SCENARIOS)
    assert loaded_names(catalog) == []
    assert catalog.rejected == {}


def test_first_use_loads_one(catalog: Catalog) -> None:
    lazy = open_catalog()

    assert "outdated" in lazy.entries
    assert loaded_names(lazy) == ["outdated"]
    assert lazy.rendered("outdated").replies == catalog.rendered("outdated").replies


def test_other_seed_same_as_eager(catalog: Catalog) -> None:
    lazy = open_catalog()

    assert lazy.rendered("default", 77).replies == catalog.rendered("default", 77).replies
    assert lazy.rendered("default", 77, "reference").replies == catalog.rendered("default", 77, "reference").replies


def test_description_read_without_loading(catalog: Catalog) -> None:
    lazy = open_catalog()

    descriptions = {name: lazy.entries[name].description for name in lazy.names()}

    assert descriptions == {name: catalog.entries[name].description for name in BUILTIN_SCENARIOS}
    assert loaded_names(lazy) == []


def test_unreadable_description_rejects(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "broken.yaml", "description: [unclosed\n")
    lazy = open_catalog([scenarios], [fixtures])

    assert "broken" in lazy.names()
    assert lazy.entries["broken"].description == ""
    assert lazy.rejected == {"broken": ["my-scenarios/broken.yaml: invalid YAML at line 2 column 1: while parsing a"
                                        " flow sequence, expected ',' or ']', but got '<stream end>'."]}
    assert "broken" not in lazy.names()


@pytest.mark.parametrize("text", [
    BROKEN_SEED[0],
    "extends: nowhere\ndescription: Broken.\n",
    "extends: default\ndescription: Broken.\nfixtures:\n  buildinfo: buildinfo/absent.yaml\n",
    "extends: default\ndescription: Broken.\noverrides:\n  all:\n    status: 200\n",
    "description: x\n--- \ndescription: y\n",
    "- a list\n",
])
def test_problems_match_eager_load(user_folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture,
                                   text: str) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "broken.yaml", text)
    with caplog.at_level(logging.WARNING, logger="coder_mock.catalog"):
        eager = load_catalog([scenarios], [fixtures])
    eager_warnings = [record.getMessage() for record in caplog.records]
    caplog.clear()
    lazy = open_catalog([scenarios], [fixtures])

    with caplog.at_level(logging.WARNING, logger="coder_mock.catalog"):
        usable = "broken" in lazy.entries

    assert usable is False
    assert list(eager.rejected) == ["broken"]
    assert lazy.rejected == eager.rejected
    assert [record.getMessage() for record in caplog.records] == eager_warnings


def test_switch_to_broken_keeps_live(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "broken.yaml", BROKEN_SEED[0])
    lazy = open_catalog([scenarios], [fixtures])
    store = Store(lazy, "outdated")
    live = store.active

    with pytest.raises(UnknownScenario):
        store.switch("broken")

    assert store.active is live
    assert lazy.rejected == {"broken": BROKEN_SEED[1]}
    assert "broken" not in lazy.names()


def test_switch_response_matches_eager(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "broken.yaml", BROKEN_SEED[0])
    eager_client = create_app(Store(load_catalog([scenarios], [fixtures]), "outdated"), quiet=True).test_client()
    lazy_client = create_app(Store(open_catalog([scenarios], [fixtures]), "outdated"), quiet=True).test_client()

    eager = eager_client.put("/__admin/scenario", json={"name": "broken"})
    lazy = lazy_client.put("/__admin/scenario", json={"name": "broken"})

    assert lazy.status_code == eager.status_code == 404
    assert lazy.get_json() == eager.get_json()
    assert lazy_client.get("/__admin/scenario").get_json()["name"] == "outdated"
    assert lazy_client.get("/__admin/scenarios").get_json()["rejected"] == [
        {"name": "broken", "problems": BROKEN_SEED[1]}]


def test_thousand_scenarios_load_two(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    for index in range(1000):
        write(scenarios, f"user-{index:04d}.yaml", f"extends: default\ndescription: Number {index}.\nseed: {index}\n")
    lazy = open_catalog([scenarios], [fixtures])

    store = Store(lazy, "user-0500")
    store.switch("user-0999")

    assert len(lazy.names()) == 1000 + len(BUILTIN_SCENARIOS)
    assert loaded_names(lazy) == ["user-0500", "user-0999"]
    assert store.active.world.seed == 999


def test_broken_builtin_fatal_when_first(tmp_path: Path) -> None:
    builtin = tmp_path / "builtin"
    write(builtin, "default.yaml", "description: Broken built-in.\nseed: yes\n")
    lazy = Catalog([builtin], [catalog_module.BUILTIN_ROOT / "fixtures"], builtin_count=1).discover()

    assert lazy.ensure("default") is False
    assert lazy.fatal == {"default"}


def serve_args(*argv: str):
    return build_parser().parse_args(["serve", *argv])


def test_build_store_loads_first_only(user_folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", "")
    scenarios, _ = user_folders
    write(scenarios, "broken.yaml", BROKEN_SEED[0])

    store = build_store(serve_args("--scenarios-dir", "my-scenarios", "--scenario", "dev-build", "--seed", "4"))

    assert store.active.name == "dev-build"
    assert store.active.world.seed == 4
    assert loaded_names(store.catalog) == ["dev-build"]


@pytest.mark.parametrize(("argv", "lines"), [
    (("--scenario", "broken"), [f"scenario 'broken' cannot be served: {BROKEN_SEED[1][0]}"]),
    (("--scenario", "absent"), [f"unknown scenario 'absent'; choose one of {', '.join(sorted(BUILTIN_SCENARIOS + ('broken',)))}."]),
])
def test_build_store_problems(user_folders: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                              argv: tuple[str, ...], lines: list[str]) -> None:
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", "")
    scenarios, _ = user_folders
    write(scenarios, "broken.yaml", BROKEN_SEED[0])

    with pytest.raises(FileProblem) as raised:
        build_store(serve_args("--scenarios-dir", "my-scenarios", *argv))

    assert raised.value.lines == lines


# The render cache.

@pytest.fixture
def cache(tmp_path: Path) -> RenderCache:
    return RenderCache(tmp_path / "cache")


def forbid_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("rendered although the render cache has the scenario")

    monkeypatch.setattr(catalog_module, "render", fail)


def test_cache_hit_skips_rendering(user_folders: tuple[Path, Path], cache: RenderCache,
                                   monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    scenarios, fixtures = user_folders
    first = open_catalog([scenarios], [fixtures], cache).rendered("outdated")
    other_seed = open_catalog([scenarios], [fixtures], cache).rendered("outdated", 9)
    inputs = open_catalog().entries["outdated"].inputs
    forbid_rendering(monkeypatch)

    with caplog.at_level(logging.INFO, logger="coder_mock.catalog"):
        again = open_catalog([scenarios], [fixtures], cache)
        hit = again.rendered("outdated")
        hit_other = again.rendered("outdated", 9)

    assert hit.replies == first.replies
    assert hit.token_configs == first.token_configs
    assert hit_other.replies == other_seed.replies
    assert again.entries["outdated"].inputs == inputs
    assert [record.getMessage() for record in caplog.records] == [
        f"scenario outdated loaded from {again.entries['outdated'].source} (render cache)"]


def test_cache_hit_with_faults(cache: RenderCache, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:
    first = open_catalog(cache=cache).rendered("flaky")
    assert first.faults
    forbid_rendering(monkeypatch)

    with caplog.at_level(logging.INFO):
        again = open_catalog(cache=cache)
        hit = again.rendered("flaky")

    assert hit.faults == first.faults
    assert hit.replies == first.replies
    assert [record.getMessage() for record in caplog.records] == [
        f"scenario flaky loaded from {again.entries['flaky'].source} (render cache)"]


@pytest.mark.parametrize("change", ["edit fixture", "shadow fixture", "edit parent"])
def test_cache_miss_after_change(user_folders: tuple[Path, Path], cache: RenderCache, change: str) -> None:
    scenarios, fixtures = user_folders
    write(fixtures, "buildinfo/mine.yaml", 'version: "v2.30.1+abc1234"\n')
    write(scenarios, "base.yaml", "description: Base.\nfixtures:\n  buildinfo: buildinfo/mine.yaml\n")
    write(scenarios, "child.yaml", "extends: base\ndescription: Child.\n")
    other_fixtures = user_folders[0].parent / "first-fixtures"
    other_fixtures.mkdir()
    assert buildinfo(open_catalog([scenarios], [other_fixtures, fixtures], cache).rendered("child"))["version"] == \
        "v2.30.1+abc1234"

    if change == "edit fixture":
        write(fixtures, "buildinfo/mine.yaml", 'version: "v2.31.0+abc1234"\n')
    elif change == "shadow fixture":
        write(other_fixtures, "buildinfo/mine.yaml", 'version: "v2.31.0+abc1234"\n')
    else:
        write(scenarios, "base.yaml", "description: Base.\nseed: 5\nfixtures:\n  buildinfo: buildinfo/mine.yaml\n")
    rendered = open_catalog([scenarios], [other_fixtures, fixtures], cache).rendered("child")

    expected = "v2.30.1+abc1234" if change == "edit parent" else "v2.31.0+abc1234"
    assert buildinfo(rendered)["version"] == expected
    assert rendered.world.seed == (5 if change == "edit parent" else 0)


def test_cache_miss_after_shadowed_parent(user_folders: tuple[Path, Path], cache: RenderCache) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "child.yaml", "extends: minimal\ndescription: Child.\n")
    assert open_catalog([scenarios], [fixtures], cache).rendered("child").world.seed == 1
    write(scenarios, "minimal.yaml", "extends: minimal\ndescription: Mine.\nseed: 42\n")

    rendered = open_catalog([scenarios], [fixtures], cache).rendered("child")

    assert rendered.world.seed == 42


def test_corrupt_entry_ignored(user_folders: tuple[Path, Path], cache: RenderCache,
                               caplog: pytest.LogCaptureFixture) -> None:
    scenarios, fixtures = user_folders
    lazy = open_catalog([scenarios], [fixtures], cache)
    expected = lazy.rendered("minimal").replies
    path = cache.path_for(*lazy.cache_key(lazy.entries["minimal"]))
    path.write_bytes(b"\x80\x05not a pickle")

    with caplog.at_level(logging.WARNING, logger="coder_mock.cache"):
        again = open_catalog([scenarios], [fixtures], cache).rendered("minimal")

    assert again.replies == expected
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith(f"render cache entry {path} ignored: cannot be read (")
    assert pickle.loads(path.read_bytes())[2].replies == expected


def test_foreign_class_refused(user_folders: tuple[Path, Path], cache: RenderCache,
                               caplog: pytest.LogCaptureFixture) -> None:
    scenarios, fixtures = user_folders
    lazy = open_catalog([scenarios], [fixtures], cache)
    path = cache.path_for(*lazy.cache_key(lazy.entries["minimal"]))
    path.parent.mkdir(parents=True)
    path.write_bytes(pickle.dumps(threading.Event))

    with caplog.at_level(logging.WARNING, logger="coder_mock.cache"):
        rendered = lazy.rendered("minimal")

    assert rendered.replies == load_catalog().rendered("minimal").replies
    assert "class threading.Event is not allowed in a cache entry" in caplog.records[0].getMessage()


def test_concurrent_writers_leave_whole_entry(cache: RenderCache) -> None:
    values = [{"writer": index, "padding": bytes(200_000)} for index in range(8)]
    threads = [threading.Thread(target=cache.put, args=(value, "same key")) for value in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stored = pickle.loads(cache.path_for("same key").read_bytes())

    assert stored in values
    assert sorted(os.listdir(cache.path_for("same key").parent)) == [cache.path_for("same key").name]


def test_cached_data_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "data.txt"
    source.write_text("a b", encoding="utf-8")
    parsed: list[str] = []

    def parse(text: str) -> dict[str, list[str]]:
        parsed.append(text)
        return {"words": text.split()}

    def has_words(value: object) -> bool:
        return isinstance(value, dict) and "words" in value

    first = cached_data(source, parse, has_words)
    second = cached_data(source, parse, has_words)
    (entry,) = (tmp_path / "cache" / "data").iterdir()
    entry.write_bytes(b"\xff")
    after_damage = cached_data(source, parse, has_words)
    rejected = cached_data(source, parse, lambda value: False)

    assert first == second == after_damage == rejected == {"words": ["a", "b"]}
    assert parsed == ["a b", "a b", "a b"]


def test_cache_folder_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", str(tmp_path / "here"))
    assert default_folder() == tmp_path / "here"
    monkeypatch.setenv("CODER_MOCK_CACHE_DIR", "")
    assert default_folder() is None
    monkeypatch.delenv("CODER_MOCK_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_folder() == tmp_path / "xdg" / "coder-mock"


# Store.replace_catalog.

def test_replace_catalog_serves_edit(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "mine.yaml", "extends: default\ndescription: Mine.\nseed: 3\n")
    store = Store(open_catalog([scenarios], [fixtures]), "mine")
    write(scenarios, "mine.yaml", "extends: default\ndescription: Mine.\nseed: 4\n")
    replacement = open_catalog([scenarios], [fixtures])

    live = store.replace_catalog(replacement)

    assert store.catalog is replacement
    assert store.active is live
    assert live.world.seed == 4
    assert live.world.description == "Mine."


def test_replace_catalog_keeps_chosen_seed(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "mine.yaml", "extends: default\ndescription: Mine.\nseed: 3\n")
    store = Store(open_catalog([scenarios], [fixtures]), "mine", seed=11, profile="reference")
    write(scenarios, "mine.yaml", "extends: default\ndescription: Mine, edited.\nseed: 4\n")

    live = store.replace_catalog(open_catalog([scenarios], [fixtures]))

    assert live.world.seed == 11
    assert live.profile == "reference"
    assert live.world.description == "Mine, edited."


def test_replace_catalog_broken_changes_nothing(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "broken.yaml", "extends: default\ndescription: Fine for now.\n")
    previous = open_catalog([scenarios], [fixtures])
    store = Store(previous, "broken")
    live = store.active
    write(scenarios, "broken.yaml", BROKEN_SEED[0])

    with pytest.raises(FileProblem) as raised:
        store.replace_catalog(open_catalog([scenarios], [fixtures]))

    assert raised.value.lines == BROKEN_SEED[1]
    assert store.catalog is previous
    assert store.active is live


def test_replace_catalog_removed_stays_live(user_folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    scenarios, fixtures = user_folders
    path = write(scenarios, "gone.yaml", "extends: default\ndescription: Soon gone.\n")
    store = Store(open_catalog([scenarios], [fixtures]), "gone")
    live = store.active
    path.unlink()
    replacement = open_catalog([scenarios], [fixtures])

    with caplog.at_level(logging.WARNING, logger="coder_mock.store"):
        assert store.replace_catalog(replacement) is live

    assert store.catalog is replacement
    assert [record.getMessage() for record in caplog.records] == [
        "scenario gone was removed from the scenario folders; it stays live until the next switch"]
    store.switch("default")
    with pytest.raises(UnknownScenario):
        store.switch("gone")
