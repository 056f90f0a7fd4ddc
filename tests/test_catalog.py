"""Loading built-in and user scenarios into a Catalog, and rejecting broken ones.

Tests with user folders run inside tmp_path, so user files show as
`my-scenarios/NAME.yaml` and built-in files show with their absolute path.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from coder_mock.catalog import BUILTIN_ROOT, SEEDS_KEPT, Catalog, Merged, load_catalog, merge_scenario
from coder_mock.documents import FileProblem
from coder_mock.schemas.fields import GoTime
from conftest import BUILTIN_SCENARIOS, write

BUILTIN_FIXTURES = BUILTIN_ROOT / "fixtures"
GOOD_TOKEN = "abcde12345-abcdefghijklmnopqrstuv"


def known_names(*user_names: str) -> str:
    return ", ".join(sorted(set(BUILTIN_SCENARIOS) | set(user_names)))


def test_builtins_all_load(catalog: Catalog) -> None:
    assert catalog.names() == sorted(BUILTIN_SCENARIOS)
    assert catalog.rejected == {}


@pytest.mark.parametrize("name", BUILTIN_SCENARIOS)
def test_builtin_description_one_line(catalog: Catalog, name: str) -> None:
    entry = catalog.entries[name]
    assert entry.builtin is True
    assert Path(entry.source).name == f"{name}.yaml"
    assert entry.description.strip() == entry.description
    assert "\n" not in entry.description
    assert len(entry.description) > 1
    assert entry.description.endswith(".")


def test_user_scenarios_good_and_broken(
    user_folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "good.yaml", "extends: default\ndescription: A good one.\n")
    write(scenarios, "broken.yaml", "description: Broken.\nseed: 1.5\nversoin: 1\n")
    write(scenarios, "notes.txt", "not a scenario")

    with caplog.at_level(logging.INFO, logger="coder_mock.catalog"):
        catalog = load_catalog([scenarios], [fixtures])

    assert catalog.names() == sorted(BUILTIN_SCENARIOS + ("good",))
    assert catalog.entries["good"].builtin is False
    assert catalog.entries["good"].description == "A good one."
    assert catalog.entries["good"].source == "my-scenarios/good.yaml"
    expected_lines = [
        "my-scenarios/broken.yaml: seed: invalid value 1.5: expected an integer.",
        'my-scenarios/broken.yaml: versoin: unknown key "versoin": remove it; the keys allowed here are'
        " extends, description, seed, time, profile, fixtures, users, deployment, overrides, faults.",
    ]
    assert catalog.rejected == {"broken": expected_lines}
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warnings == [f"scenario broken skipped: {line}" for line in expected_lines]


def test_user_scenario_replaces_builtin(
    user_folders: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "default.yaml", f"description: My default.\nseed: 3\nusers:\n  - username: alice\n    roles: [owner]\n    tokens:\n      - token: {GOOD_TOKEN}\n")

    with caplog.at_level(logging.WARNING, logger="coder_mock.catalog"):
        catalog = load_catalog([scenarios], [fixtures])

    entry = catalog.entries["default"]
    assert entry.builtin is False
    assert entry.description == "My default."
    assert entry.source == "my-scenarios/default.yaml"
    assert catalog.names() == sorted(BUILTIN_SCENARIOS)
    assert catalog.rejected == {}
    assert caplog.messages == [
        f"scenario default from my-scenarios/default.yaml replaces the one from {BUILTIN_ROOT / 'scenarios' / 'default.yaml'}"
    ]
    # Built-ins that extend `default` now inherit from the user's file.
    assert catalog.entries["outdated"].inputs.scenario["users"] == [
        {"username": "alice", "roles": ["owner"], "tokens": [{"token": GOOD_TOKEN}]}
    ]


def test_broken_user_parent_not_fatal(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "default.yaml", "description: My default.\nseed: 1.5\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected["default"] == ["my-scenarios/default.yaml: seed: invalid value 1.5: expected an integer."]
    assert "default" not in catalog.entries
    assert "minimal" in catalog.entries


def test_extends_merges_nested_keys(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(
        scenarios,
        "child.yaml",
        "extends: dev-build\n"
        "description: Child of dev-build.\n"
        "seed: 9\n"
        "fixtures:\n  buildinfo: buildinfo/release-candidate.yaml\n"
        "deployment:\n  latest_release: {version: v2.30.0}\n  experiments: [web-push]\n",
    )

    catalog = load_catalog([scenarios], [fixtures])

    inputs = catalog.entries["child"].inputs
    assert inputs.scenario["description"] == "Child of dev-build."
    assert inputs.scenario["seed"] == 9
    assert inputs.scenario["time"] == GoTime.parse("2025-04-17T12:00:00Z")
    assert inputs.scenario["fixtures"] == {
        "buildinfo": "buildinfo/release-candidate.yaml",
        "deployment_config": "deployment-config/default.yaml",
    }
    assert inputs.scenario["deployment"] == {
        "update_check": True,
        "latest_release": {"version": "v2.30.0"},
        "experiments": ["web-push"],
        "safe_experiments": [],
        "stats_collected": True,
    }
    assert [user["username"] for user in inputs.scenario["users"]] == ["admin", "member"]
    assert sorted(inputs.fixtures) == ["buildinfo", "deployment-config"]
    assert inputs.fixtures["buildinfo"][0] == str(BUILTIN_FIXTURES / "buildinfo" / "release-candidate.yaml")
    assert catalog.entries["child"].default.world.update_check == {
        "current": False,
        "version": "v2.30.0",
        "url": "https://github.com/coder/coder/releases/tag/v2.30.0",
    }


def test_extends_needs_own_description(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "quiet.yaml", "extends: default\nseed: 2\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected == {"quiet": ["my-scenarios/quiet.yaml: description: missing: add this key with a string."]}


@pytest.mark.parametrize(
    ("parent", "parent_in_message"),
    [("nothere", '"nothere"'), ("5", "5"), ("Default", '"Default"')],
)
def test_extends_unknown_parent(user_folders: tuple[Path, Path], parent: str, parent_in_message: str) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "orphan.yaml", f"extends: {parent}\ndescription: Orphan.\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected == {
        "orphan": [f"my-scenarios/orphan.yaml: extends: unknown scenario {parent_in_message}; use one of {known_names('orphan')}."]
    }


def test_extends_cycle_rejected(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "a.yaml", "extends: b\ndescription: A.\n")
    write(scenarios, "b.yaml", "extends: a\ndescription: B.\n")
    write(scenarios, "self.yaml", "extends: self\ndescription: Self.\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected == {
        "a": ["my-scenarios/b.yaml: extends: scenarios extend each other in a cycle (a -> b -> a); break it."],
        "b": ["my-scenarios/a.yaml: extends: scenarios extend each other in a cycle (b -> a -> b); break it."],
        "self": ["my-scenarios/self.yaml: extends: scenarios extend each other in a cycle (self -> self); break it."],
    }
    assert catalog.names() == sorted(BUILTIN_SCENARIOS)


def test_inherited_problem_names_parent(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "parent.yaml", "description: Parent.\nseed: 1.5\n")
    write(scenarios, "child.yaml", "extends: parent\ndescription: Child.\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected["parent"] == ["my-scenarios/parent.yaml: seed: invalid value 1.5: expected an integer."]
    assert any(line.startswith("my-scenarios/parent.yaml: ") for line in catalog.rejected["child"])


@pytest.mark.parametrize(
    ("file_name", "text", "lines"),
    [
        (
            "bad name.yaml",
            "description: Spaces.\n",
            ["my-scenarios/bad name.yaml: the file name 'bad name' is not a plain scenario name;"
             " use letters, digits, - and _ only."],
        ),
        (".hidden.yaml", "description: Hidden.\n",
         ["my-scenarios/.hidden.yaml: the file name '.hidden' is not a plain scenario name;"
          " use letters, digits, - and _ only."]),
        ("list.yaml", "- a\n", ["my-scenarios/list.yaml: (top level): expected a mapping of scenario keys."]),
        ("empty.yaml", "", ["my-scenarios/empty.yaml: (top level): expected a mapping of scenario keys."]),
        (
            "tagged.yaml",
            'x: !!python/object/apply:os.system ["true"]\n',
            ["my-scenarios/tagged.yaml: line 1: the tag !!python/object/apply:os.system is not allowed;"
             " coder-mock reads plain YAML without language tags, so remove the tag."],
        ),
        ("broken.json", '{"description": ', ["my-scenarios/broken.json: invalid JSON at line 1 column 17: Expecting value."]),
    ],
)
def test_unusable_scenario_files(user_folders: tuple[Path, Path], file_name: str, text: str, lines: list[str]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, file_name, text)

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected == {Path(file_name).stem: lines}
    assert catalog.names() == sorted(BUILTIN_SCENARIOS)


def test_json_and_yml_scenarios_load(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(scenarios, "from-json.json", '{"extends": "default", "description": "JSON."}')
    write(scenarios, "from-yml.yml", "extends: default\ndescription: YML.\n")

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.entries["from-json"].description == "JSON."
    assert catalog.entries["from-yml"].description == "YML."
    assert catalog.rejected == {}


def test_all_fixture_problems_reported(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(fixtures, "buildinfo/bad.yaml", 'version: 2.10\ntelemetry: "no"\n')
    write(fixtures, "deployment-stats/naive.yaml", "collected_at: 2024-01-02T03:04:05\n")
    write(
        scenarios,
        "multi.yaml",
        "description: Many broken fixtures.\n"
        "fixtures:\n"
        "  buildinfo: buildinfo/bad.yaml\n"
        "  deployment-ssh: deployment-ssh/missing.yaml\n"
        "  deployment-stats: deployment-stats/naive.yaml\n",
    )

    catalog = load_catalog([scenarios], [fixtures])

    assert catalog.rejected == {
        "multi": [
            "my-fixtures/buildinfo/bad.yaml: version: invalid value 2.10: expected a SemVer version with a leading v."
            ' YAML reads unquoted 2.10 as a number; quote it and write the whole version, such as "v2.10.0".',
            'my-fixtures/buildinfo/bad.yaml: telemetry: invalid value "no": expected true or false.',
            "my-scenarios/multi.yaml: fixtures.deployment-ssh: fixture \"deployment-ssh/missing.yaml\" not found in"
            f" my-fixtures, {BUILTIN_FIXTURES}; create it or fix the path.",
            'my-fixtures/deployment-stats/naive.yaml: collected_at: invalid timestamp "2024-01-02T03:04:05":'
            ' it has no time zone. Add Z for UTC, as in "2024-01-02T03:04:05Z", or an offset such as +02:00.',
        ]
    }


def test_user_fixture_shadows_builtin(user_folders: tuple[Path, Path]) -> None:
    scenarios, fixtures = user_folders
    write(fixtures, "buildinfo/release.yaml", 'version: "v2.99.0+abc1234"\n')
    write(scenarios, "mine.yaml", "extends: default\ndescription: Mine.\n")

    catalog = load_catalog([scenarios], [fixtures])

    source, fixture = catalog.entries["mine"].inputs.fixtures["buildinfo"]
    assert source == "my-fixtures/buildinfo/release.yaml"
    assert fixture == {"version": "v2.99.0+abc1234"}
    assert catalog.entries["mine"].default.world.buildinfo["version"] == "v2.99.0+abc1234"


def test_broken_builtin_stops_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    builtin = tmp_path / "builtin"
    write(builtin, "fine.yaml", "description: Fine.\n")
    write(builtin, "broken.yaml", "description: Broken.\nseed: yes\n")
    catalog = Catalog([builtin], [BUILTIN_FIXTURES], builtin_count=1)

    with pytest.raises(FileProblem) as raised:
        catalog.load()

    assert raised.value.lines == ["builtin/broken.yaml: seed: invalid value yes: expected an integer."]


def test_broken_user_after_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    builtin = tmp_path / "builtin"
    user = tmp_path / "user"
    write(builtin, "fine.yaml", "description: Fine.\n")
    write(user, "broken.yaml", "description: Broken.\nseed: yes\n")

    catalog = Catalog([builtin, user], [BUILTIN_FIXTURES], builtin_count=1).load()

    assert catalog.names() == ["fine"]
    assert catalog.rejected == {"broken": ["user/broken.yaml: seed: invalid value yes: expected an integer."]}


def test_broken_builtin_fixture_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    builtin = tmp_path / "builtin"
    builtin_fixtures = tmp_path / "builtin-fixtures"
    write(builtin, "uses-bad.yaml", "description: Bad fixture.\nfixtures:\n  deployment-ssh: deployment-ssh/bad.yaml\n")
    write(builtin_fixtures, "deployment-ssh/bad.yaml", "hostname_prefix: no\n")
    catalog = Catalog([builtin], [builtin_fixtures], builtin_count=1)

    with pytest.raises(FileProblem) as raised:
        catalog.load()

    assert raised.value.lines == [
        "builtin-fixtures/deployment-ssh/bad.yaml: hostname_prefix: invalid value no: expected a string."
        ' YAML reads unquoted no as the boolean false; quote it: "no".'
    ]


def test_missing_folder_loads_nothing(tmp_path: Path) -> None:
    catalog = Catalog([tmp_path / "absent"], [tmp_path / "absent-fixtures"], builtin_count=1).load()
    assert catalog.names() == []
    assert catalog.rejected == {}


def test_rendered_caches_per_seed() -> None:
    catalog = load_catalog()

    own = catalog.rendered("default")
    assert own is catalog.entries["default"].default
    assert catalog.rendered("default", own.world.seed) is own

    other = catalog.rendered("minimal", 12345)
    assert other.world.seed == 12345
    assert catalog.rendered("minimal", 12345) is other


def test_rendered_keeps_bounded_seeds() -> None:
    catalog = load_catalog()

    for seed in range(100, 100 + SEEDS_KEPT + 3):
        catalog.rendered("minimal", seed)

    assert sorted(seed for seed, _ in catalog.entries["minimal"].by_seed) == list(range(103, 100 + SEEDS_KEPT + 3))


@pytest.mark.parametrize(
    ("base", "override", "merged"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
        ({"a": 5}, {"a": {"x": 1}}, {"a": {"x": 1}}),
        # Below the top level a child's value replaces the parent's whole, so a
        # new latest_release never keeps the parent's url.
        ({"a": {"b": {"c": 1, "d": 2}}}, {"a": {"b": {"d": 3}}}, {"a": {"b": {"d": 3}}}),
    ],
)
def test_merge_scenario_cases(base: dict, override: dict, merged: dict) -> None:
    before = repr(base)
    parent = Merged(base, {(key,): Path("parent.yaml") for key in base}, [Path("parent.yaml")])
    assert merge_scenario(parent, override, Path("child.yaml")).document == merged
    assert repr(base) == before


def test_user_default_extends_builtin_default(user_folders: tuple[Path, Path]) -> None:
    scenarios, _ = user_folders
    write(scenarios, "default.yaml", "extends: default\ndescription: My default.\nseed: 9\n")

    catalog = load_catalog([scenarios])

    assert catalog.rejected == {}
    assert catalog.entries["default"].description == "My default."
    assert catalog.rendered("default").world.seed == 9
    # Built-ins that extend default now extend the user's version.
    assert catalog.rendered("outdated").world.seed == 9
