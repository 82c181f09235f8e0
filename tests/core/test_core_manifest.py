"""The agent manifest: the DESIGN.md example parses, every error names field and value."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.core.manifest import (
    AgentManifest,
    FloatParam,
    IntParam,
    Limits,
    ServiceSpec,
    load_manifest,
    parse_manifest,
)

DESIGN_EXAMPLE = """
name = "connect4-mcts"          # [a-z0-9-], unique per owner
version = "1.2.0"               # semver, immutable once published
language = "python"             # python | javascript
entrypoint = "agent.py"
description = "Monte-Carlo tree search"
license = "MIT"                 # SPDX id
scenarios = ["connect_four"]    # what it can play
capabilities = []               # e.g. ["bus:publish:team/*", "net:loopback"]
[limits]                        # asked for; the platform caps them
move_ms = 200                   # per-move deadline
overage_ms = 2000               # per-episode time bank drawn on when a move runs over
memory_mb = 256
[parameters]                    # the genome evolution and tuning may change
exploration = { type = "float", low = 0.1, high = 3.0, default = 1.4 }
simulations = { type = "int", low = 10, high = 2000, default = 200 }
"""


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "my-agent",
        "version": "0.1.0",
        "language": "python",
        "entrypoint": "agent.py",
        "license": "MIT",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_design_example_parses() -> None:
    manifest = parse_manifest(tomllib.loads(DESIGN_EXAMPLE))
    assert manifest.name == "connect4-mcts"
    assert manifest.version == "1.2.0"
    assert manifest.limits == Limits(move_ms=200, overage_ms=2000, memory_mb=256)
    assert isinstance(manifest.parameters["exploration"], FloatParam)
    assert isinstance(manifest.parameters["simulations"], IntParam)
    assert manifest.default_params() == {"exploration": 1.4, "simulations": 200}
    assert manifest.capabilities == []


def test_defaults_of_optional_fields() -> None:
    manifest = parse_manifest(minimal())
    assert manifest.scenarios == ["*"]
    assert manifest.limits == Limits()
    assert manifest.default_params() == {}
    assert manifest.requirements == []


def test_parameters_of_every_type() -> None:
    manifest = parse_manifest(
        minimal(
            parameters={
                "greedy": {"type": "bool", "default": True},
                "style": {"type": "choice", "choices": ["calm", "wild"], "default": "wild"},
                "depth": {"type": "int", "low": 1, "high": 9, "default": 9},
            }
        )
    )
    assert manifest.default_params() == {"greedy": True, "style": "wild", "depth": 9}


@pytest.mark.parametrize(
    ("scenarios", "scenario", "plays"),
    [
        (["connect_four"], "connect_four", True),
        (["connect_four"], "connect_four-v1", True),
        (["connect_four-v2"], "connect_four-v2", True),
        (["connect_four"], "tictactoe", False),
        (["connect_four"], "tictactoe-v1", False),
        (["*"], "tictactoe-v1", True),
    ],
)
def test_plays(scenarios: list[str], scenario: str, plays: bool) -> None:
    assert parse_manifest(minimal(scenarios=scenarios)).plays(scenario) is plays


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "Bad_Name"}, "field 'name' = 'Bad_Name'"),
        ({"name": "-lead"}, "field 'name' = '-lead'"),
        ({"version": "1.2"}, "field 'version' = '1.2': '1.2' is not a semantic version"),
        ({"language": "rust"}, "field 'language' = 'rust'"),
        ({"license": "MIT; rm -rf"}, "field 'license' = 'MIT; rm -rf'"),
        (
            {"capabilities": ["net:everything"]},
            "'net:everything' is not a capability",
        ),
        ({"colour": "red"}, "field 'colour' = 'red'"),
        ({"license": None}, "field 'license' is required"),
        ({"limits": {"move_ms": 0}}, "field 'limits.move_ms' = 0"),
        ({"limits": {"cpu": 4}}, "field 'limits.cpu' = 4"),
        (
            {"requirements": ["--index-url=http://evil"]},
            "'--index-url=http://evil' is not a requirement specifier",
        ),
        ({"adapter": "gym"}, "field 'adapter' = 'gym'"),
        (
            {"adapter": "kaggle", "language": "javascript", "entrypoint": "main.mjs"},
            "adapter 'kaggle' needs language 'python'",
        ),
    ],
)
def test_field_errors_name_field_and_value(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(expected)):
        parse_manifest(minimal(**changes), source="x/agent.toml")


def test_error_names_the_source() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^somewhere/agent\.toml: field 'name'"):
        parse_manifest(minimal(name="Bad_Name"), source="somewhere/agent.toml")


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(minimal(name="Bad_Name", version="1.2"))
    assert "'Bad_Name'" in str(info.value)
    assert "'1.2'" in str(info.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"entrypoint": "agent.js"},
            "entrypoint 'agent.js' does not suit language 'python' (expected .py)",
        ),
        (
            {"language": "javascript", "entrypoint": "agent.py"},
            "entrypoint 'agent.py' does not suit language 'javascript' (expected .mjs or .js)",
        ),
        (
            {"entrypoint": "../agent.py"},
            "entrypoint '../agent.py' must be a relative path inside the agent",
        ),
        (
            {"entrypoint": "sub/../../agent.py"},
            "entrypoint 'sub/../../agent.py' must be a relative path inside the agent",
        ),
        (
            {"entrypoint": "/etc/agent.py"},
            "entrypoint '/etc/agent.py' must be a relative path inside the agent",
        ),
        (
            {"language": "javascript", "entrypoint": "a.mjs", "requirements": ["six"]},
            "requirements are only supported for language 'python'",
        ),
    ],
)
def test_entrypoint_errors(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(expected)):
        parse_manifest(minimal(**changes))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"type": "float", "low": 0.1, "high": 3.0, "default": 5.0},
            "field 'parameters.x.float'",
        ),
        (
            {"type": "float", "low": 0.1, "high": 3.0, "default": 5.0},
            "default 5.0 is outside [0.1, 3.0]",
        ),
        ({"type": "int", "low": 10, "high": 20, "default": 9}, "default 9 is outside [10, 20]"),
        ({"type": "int", "low": 20, "high": 10, "default": 15}, "low 20 is above high 10"),
        (
            {"type": "choice", "choices": ["a", "b"], "default": "c"},
            "default 'c' is not one of ['a', 'b']",
        ),
        ({"type": "complex", "default": 1}, "field 'parameters.x'"),
    ],
)
def test_parameter_errors(spec: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(expected)):
        parse_manifest(minimal(parameters={"x": spec}))


def test_manifest_is_immutable() -> None:
    manifest = parse_manifest(minimal())
    with pytest.raises(ValueError, match="frozen"):
        manifest.name = "other"  # type: ignore[misc]


def write(folder: Path, toml: str, files: tuple[str, ...] = ("agent.py",)) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "agent.toml").write_text(toml, encoding="utf-8")
    for name in files:
        (folder / name).write_text("def act(o, c):\n    return 0\n", encoding="utf-8")
    return folder


def test_load_manifest(tmp_path: Path) -> None:
    folder = write(tmp_path / "a", DESIGN_EXAMPLE)
    manifest = load_manifest(folder)
    assert isinstance(manifest, AgentManifest)
    assert manifest.name == "connect4-mcts"


def test_load_manifest_without_agent_toml(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=re.escape(f"{tmp_path}: no agent.toml found")):
        load_manifest(tmp_path)


def test_load_manifest_missing_entrypoint_file(tmp_path: Path) -> None:
    folder = write(tmp_path / "a", DESIGN_EXAMPLE, files=())
    with pytest.raises(
        NotFoundError, match=re.escape("field 'entrypoint' = 'agent.py': file not found")
    ):
        load_manifest(folder)


def test_load_manifest_invalid_toml(tmp_path: Path) -> None:
    folder = write(tmp_path / "a", 'name = "unterminated\n')
    with pytest.raises(InvalidArgumentError, match=r"agent\.toml: invalid TOML"):
        load_manifest(folder)


def test_load_manifest_error_names_the_file(tmp_path: Path) -> None:
    folder = write(tmp_path / "a", DESIGN_EXAMPLE.replace('"1.2.0"', '"1.2"'))
    with pytest.raises(
        InvalidArgumentError, match=re.escape(f"{folder / 'agent.toml'}: field 'version' = '1.2'")
    ):
        load_manifest(folder)


# --- requirements: names from the index only --------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "evil @ http://example.org/evil-0.1.tar.gz",
        "evil@file:///tmp/evil-0.1.tar.gz",
        "evil @ git+https://example.org/evil.git",
        "git+https://example.org/evil.git",
        "https://example.org/evil-0.1-py3-none-any.whl",
        "file:///tmp/evil",
        "./evil",
        "/opt/evil-0.1.tar.gz",
        "--index-url=http://evil",
        "-e .",
        "",
        # Valid PEP 508 names that uv reads as a file in its working folder:
        "evil.tar.gz",
        "evil-0.1-py3-none-any.whl",
        "evil.zip[extra]",
        'evil.tgz; os_name == "posix"',
        "evil.tar",
    ],
)
def test_requirements_refuse_urls_paths_vcs_and_options(entry: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(minimal(requirements=["six==1.16.0", entry]), source="x/agent.toml")
    message = str(info.value)
    assert message.startswith("x/agent.toml: field 'requirements' = ")
    assert repr(entry) in message  # the bad entry
    assert "allowed: a PEP 508 package name with an optional version specifier" in message
    assert "from the configured package index" in message


@pytest.mark.parametrize(
    "entry",
    ["six", "six==1.16.0", "numpy>=2,<3", "attrs[tests]~=23.1", 'tomli; python_version < "3.11"'],
)
def test_requirements_accept_names_with_specifiers_extras_and_markers(entry: str) -> None:
    assert parse_manifest(minimal(requirements=[entry])).requirements == [entry]


# --- unknown keys, several problems, NUL ------------------------------------------------


def test_a_misspelt_key_is_one_error_with_a_suggestion() -> None:
    data = minimal(entrypoint=None)
    data["entrypiont"] = "agent.py"
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(data, source="x/agent.toml")
    assert str(info.value) == (
        "x/agent.toml: field 'entrypiont' = 'agent.py': unknown key (did you mean `entrypoint`?)"
    )


def test_a_misspelt_nested_key_is_suggested_too() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(minimal(limits={"memory_mib": 64}))
    assert str(info.value) == (
        "agent.toml: field 'limits.memory_mib' = 64: unknown key (did you mean `memory_mb`?)"
    )


def test_an_unknown_key_far_from_any_lists_the_known_keys() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(minimal(colour="red"))
    assert "field 'colour' = 'red': unknown key (known keys: name, version, language," in str(
        info.value
    )


def test_several_problems_are_counted_and_separated() -> None:
    data = minimal(name="Bad_Name", version="1.2", entrypoint=None)
    data["entrypiont"] = "agent.py"
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(data, source="x/agent.toml")
    head, _, rest = str(info.value).partition("3 problems: ")
    assert head == "x/agent.toml: "
    problems = rest.split("; ")
    assert [problem.split(" = ")[0] for problem in problems] == [
        "field 'entrypiont'",
        "field 'name'",
        "field 'version'",
    ]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"description": "evil\x00bytes"}, "description"),
        ({"scenarios": ["tictactoe", "tic\x00tac"]}, "scenarios[1]"),
        ({"parameters": {"x\x00": {"type": "bool", "default": True}}}, "parameters.x\x00"),
        ({"entrypoint": "agent\x00.py"}, "entrypoint"),
    ],
)
def test_nul_characters_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        parse_manifest(minimal(**changes), source="x/agent.toml")
    assert str(info.value) == (
        f"x/agent.toml: field {field!r} contains a NUL character (\\x00), which is not "
        "allowed in a manifest"
    )


SERVICE_EXAMPLE = """
name = "echo"
version = "1.0.0"
language = "python"
entrypoint = "agent.py"
license = "MIT"
scenarios = []
capabilities = ["bus:request:svc.>", "memory:read:team.*", "memory:write:team.notes"]
[service]
handles = ["echo", "connect_four.best_move"]
concurrency = 4
task_ms = 60000
"""


def test_service_table_parses() -> None:
    manifest = parse_manifest(tomllib.loads(SERVICE_EXAMPLE))
    assert manifest.service == ServiceSpec(
        handles=["echo", "connect_four.best_move"], concurrency=4, task_ms=60_000
    )
    assert manifest.capabilities[0] == "bus:request:svc.>"
    assert parse_manifest(minimal()).service is None  # not a service agent
    assert parse_manifest(minimal(service={"handles": ["echo"]})).service == ServiceSpec(
        handles=["echo"], concurrency=1, task_ms=30_000
    )


@pytest.mark.parametrize(
    "capability",
    ["bus:publish:team.>", "bus:subscribe:>", "bus:request:sys.memory", "memory:read:*"],
)
def test_wildcard_and_memory_capabilities(capability: str) -> None:
    assert parse_manifest(minimal(capabilities=[capability])).capabilities == [capability]


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ({"handles": []}, "field 'service.handles' = []"),
        ({"handles": ["Echo"]}, "'Echo' is not a task type"),
        ({"handles": ["echo."]}, "'echo.' is not a task type"),
        ({"handles": ["echo", "echo"]}, "task types are listed twice"),
        ({"handles": [f"t{n}" for n in range(33)]}, "field 'service.handles'"),
        ({"handles": ["echo"], "concurrency": 0}, "field 'service.concurrency' = 0"),
        ({"handles": ["echo"], "concurrency": 17}, "field 'service.concurrency' = 17"),
        ({"handles": ["echo"], "task_ms": 600_001}, "field 'service.task_ms' = 600001"),
        ({"handles": ["echo"], "replicas": 2}, "field 'service.replicas' = 2: unknown key"),
        ({"concurrency": 1}, "field 'service.handles' is required"),
    ],
)
def test_service_errors_name_field_and_value(service: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidArgumentError, match=re.escape(expected)):
        parse_manifest(minimal(service=service), source="x/agent.toml")


@pytest.mark.parametrize("capability", ["memory:delete:x", "bus:request:", "bus:request:a b"])
def test_capability_errors_list_what_is_allowed(capability: str) -> None:
    with pytest.raises(InvalidArgumentError, match="memory:read:PATTERN"):
        parse_manifest(minimal(capabilities=[capability]))
