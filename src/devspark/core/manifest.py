"""The agent manifest (``agent.toml``), parsed and validated with pydantic.

Every validation error names the field and the bad value, so ``devspark agent check``
can tell a user exactly what to fix.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.core.semver import SEMVER_RE

MANIFEST_NAME = "agent.toml"
_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
_PATTERN = r"[A-Za-z0-9_*>./-]+"
_CAPABILITY_RE = re.compile(
    rf"^(bus:(publish|subscribe|request):{_PATTERN}|memory:(read|write):{_PATTERN}"
    r"|net:(loopback|host))$"
)
CAPABILITIES_ALLOWED = (
    "bus:publish:PATTERN, bus:subscribe:PATTERN, bus:request:PATTERN, memory:read:PATTERN, "
    "memory:write:PATTERN, net:loopback, net:host (PATTERN: letters, digits and _ - . / "
    "with * for one dot-separated word and > for the rest, e.g. team.* or svc.>)"
)
"""What a ``capabilities`` entry may be (error messages quote it)."""
_TASK_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_SPDX_RE = re.compile(r"^[A-Za-z0-9.+-]+(?:\s+(?:AND|OR|WITH)\s+[A-Za-z0-9.+-]+)*$")
ENTRY_SUFFIXES = {"python": (".py",), "javascript": (".mjs", ".js")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Resource limits an agent asks for; the platform caps them (see ``sandbox.limits``)."""

    move_ms: Annotated[int, Field(gt=0, le=600_000)] = 200
    overage_ms: Annotated[int, Field(ge=0, le=3_600_000)] = 2000
    memory_mb: Annotated[int, Field(ge=16, le=65_536)] = 256
    start_ms: Annotated[int, Field(gt=0, le=120_000)] = 5000


class ServiceSpec(_Strict):
    """The ``[service]`` table: the task types a service agent handles (docs/agents.md)."""

    handles: Annotated[list[str], Field(min_length=1, max_length=32)]
    concurrency: Annotated[int, Field(ge=1, le=16)] = 1
    """Sandboxed processes per instance."""
    task_ms: Annotated[int, Field(ge=1, le=600_000)] = 30_000
    """Default per-task deadline (the platform caps it)."""

    @field_validator("handles")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        for item in value:
            if len(item) > 128 or not _TASK_TYPE_RE.match(item):
                raise ValueError(
                    f"{item!r} is not a task type (lower-case dotted words such as "
                    "'echo' or 'connect_four.best_move', at most 128 characters)"
                )
        if len(set(value)) != len(value):
            raise ValueError("task types are listed twice")
        return value


class FloatParam(_Strict):
    """A real-valued parameter in ``[low, high]``."""

    type: Literal["float"]
    low: float
    high: float
    default: float
    log: bool = False

    @model_validator(mode="after")
    def _in_range(self) -> FloatParam:
        _check_range(self.low, self.high, self.default)
        return self


class IntParam(_Strict):
    """An integer parameter in ``[low, high]``."""

    type: Literal["int"]
    low: int
    high: int
    default: int
    log: bool = False

    @model_validator(mode="after")
    def _in_range(self) -> IntParam:
        _check_range(self.low, self.high, self.default)
        return self


class BoolParam(_Strict):
    """A boolean switch."""

    type: Literal["bool"]
    default: bool


class ChoiceParam(_Strict):
    """One value out of a fixed list."""

    type: Literal["choice"]
    choices: Annotated[list[str | int | float | bool], Field(min_length=1)]
    default: str | int | float | bool

    @model_validator(mode="after")
    def _default_listed(self) -> ChoiceParam:
        if self.default not in self.choices:
            raise ValueError(f"default {self.default!r} is not one of {self.choices!r}")
        return self


Parameter = Annotated[FloatParam | IntParam | BoolParam | ChoiceParam, Field(discriminator="type")]


REQUIREMENTS_ALLOWED = (
    "a PEP 508 package name with an optional version specifier, extras and markers "
    "(for example 'six==1.16.0' or 'numpy>=2'), installed as a wheel from the configured "
    "package index"
)
"""What a ``requirements`` entry may be (error messages quote it)."""

_ARCHIVE_SUFFIXES = (
    ".whl", ".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz",
    ".tar.zst", ".tar.lz", ".tlz", ".tar.lzma",
)  # fmt: skip
"""Endings that make uv read a valid PEP 508 name as a file path (``evil.tar.gz``)."""


def check_requirement(item: str) -> Requirement:
    """Parse one ``requirements`` entry; refuse anything but a name from the index.

    Direct references (``name @ URL``, paths, ``file://``, VCS URLs) and installer
    options would make the installer fetch, and for a source distribution build, code
    that no index vouches for, so they are refused here, before anything is stored.

    Raises:
        ValueError: The entry is not a plain requirement specifier.

    """
    if item.lstrip().startswith("-"):
        raise ValueError(
            f"{item!r} is not a requirement specifier (installer options are not allowed); "
            f"allowed: {REQUIREMENTS_ALLOWED}"
        )
    try:
        requirement = Requirement(item)
    except InvalidRequirement:
        raise ValueError(
            f"{item!r} is not a requirement specifier (URLs, paths and VCS references are "
            f"not allowed); allowed: {REQUIREMENTS_ALLOWED}"
        ) from None
    if requirement.url is not None:
        raise ValueError(
            f"{item!r} is a direct reference to {requirement.url!r}, which is not allowed; "
            f"allowed: {REQUIREMENTS_ALLOWED}"
        )
    if requirement.name.lower().endswith(_ARCHIVE_SUFFIXES):
        raise ValueError(
            f"{item!r} names a file ({requirement.name!r} ends like an archive), which the "
            f"installer would read as a path; allowed: {REQUIREMENTS_ALLOWED}"
        )
    return requirement


def _check_range(low: float, high: float, default: float) -> None:
    if low > high:
        raise ValueError(f"low {low!r} is above high {high!r}")
    if not low <= default <= high:
        raise ValueError(f"default {default!r} is outside [{low!r}, {high!r}]")


class AgentManifest(_Strict):
    """The contents of ``agent.toml`` (docs/agents.md)."""

    name: str
    version: str
    language: Literal["python", "javascript"]
    entrypoint: str
    description: str = ""
    license: str
    scenarios: list[str] = Field(default_factory=lambda: ["*"])
    capabilities: list[str] = Field(default_factory=list)
    limits: Limits = Field(default_factory=Limits)
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    requirements: list[str] = Field(default_factory=list)
    adapter: Literal["native", "kaggle"] = "native"
    service: ServiceSpec | None = None
    """The ``[service]`` table; None for an agent that only plays matches."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                f"{value!r} must match [a-z0-9-] (1-64 chars, no leading/trailing '-')"
            )
        return value

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not SEMVER_RE.match(value):
            raise ValueError(f"{value!r} is not a semantic version such as 1.2.0")
        return value

    @field_validator("license")
    @classmethod
    def _license(cls, value: str) -> str:
        if not _SPDX_RE.match(value):
            raise ValueError(f"{value!r} is not an SPDX licence expression such as MIT")
        return value

    @field_validator("capabilities")
    @classmethod
    def _capabilities(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _CAPABILITY_RE.match(item):
                raise ValueError(f"{item!r} is not a capability; allowed: {CAPABILITIES_ALLOWED}")
        return value

    @field_validator("requirements")
    @classmethod
    def _requirements(cls, value: list[str]) -> list[str]:
        for item in value:
            check_requirement(item)
        return value

    @model_validator(mode="after")
    def _entrypoint(self) -> AgentManifest:
        entry = Path(self.entrypoint)
        if entry.is_absolute() or ".." in entry.parts:
            raise ValueError(
                f"entrypoint {self.entrypoint!r} must be a relative path inside the agent"
            )
        if not self.entrypoint.endswith(ENTRY_SUFFIXES[self.language]):
            raise ValueError(
                f"entrypoint {self.entrypoint!r} does not suit language {self.language!r} "
                f"(expected {' or '.join(ENTRY_SUFFIXES[self.language])})"
            )
        if self.requirements and self.language != "python":
            raise ValueError("requirements are only supported for language 'python'")
        return self

    def default_params(self) -> dict[str, Any]:
        """The parameter values an agent plays with unless evolution or tuning changes them."""
        return {name: spec.default for name, spec in self.parameters.items()}

    @model_validator(mode="after")
    def _adapter_language(self) -> AgentManifest:
        if self.adapter == "kaggle" and self.language != "python":
            raise ValueError(
                f"adapter 'kaggle' needs language 'python' (Kaggle submissions are "
                f"Python), got language {self.language!r}"
            )
        return self

    def plays(self, scenario_id: str) -> bool:
        """Whether this agent declares support for ``scenario_id`` (``*`` means any)."""
        base = scenario_id.split("-v")[0]
        return "*" in self.scenarios or scenario_id in self.scenarios or base in self.scenarios


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed next to the unknown one at ``loc``."""
    if len(loc) == 1:
        return list(AgentManifest.model_fields)
    if loc[0] == "limits":
        return list(Limits.model_fields)
    if loc[0] == "service":
        return list(ServiceSpec.model_fields)
    if loc[0] == "parameters":
        kinds = (FloatParam, IntParam, BoolParam, ChoiceParam)
        return sorted({name for kind in kinds for name in kind.model_fields})
    return []


def _unknown_key(loc: tuple[int | str, ...], value: Any) -> tuple[str, str | None]:
    """Describe an unknown key; also return the known key it was probably meant as."""
    field = ".".join(str(part) for part in loc)
    known = _known_keys(loc)
    near = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if near:
        return f"field {field!r} = {value!r}: unknown key (did you mean `{near[0]}`?)", near[0]
    return f"field {field!r} = {value!r}: unknown key (known keys: {', '.join(known)})", None


def _describe(error: ValidationError, source: str) -> str:
    """One message for every problem, each naming its field, joined with ``; ``.

    An unknown key close to a known one (``entrypiont``) is one problem, not two: the
    suggestion replaces the "required" error of the key it was meant as.
    """
    parts: list[str] = []
    meant: set[tuple[int | str, ...]] = set()
    for item in error.errors():
        if item["type"] == "extra_forbidden":
            loc = tuple(item["loc"])
            text, near = _unknown_key(loc, item.get("input"))
            parts.append(text)
            if near is not None:
                meant.add((*loc[:-1], near))
    for item in error.errors():
        loc = tuple(item["loc"])
        field = ".".join(str(part) for part in loc) or "(manifest)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden" or (item["type"] == "missing" and loc in meant):
            continue
        if item["type"] == "missing":
            parts.append(f"field {field!r} is required")
        else:
            parts.append(f"field {field!r} = {item.get('input')!r}: {message}")
    count = f"{len(parts)} problems: " if len(parts) > 1 else ""
    return f"{source}: {count}" + "; ".join(parts)


def _nul_field(value: Any, field: str = "") -> str | None:
    """The first field (or key) of raw manifest data whose text holds a NUL character."""
    if isinstance(value, str):
        return field if "\x00" in value else None
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{field}.{key}" if field else str(key)
            if "\x00" in str(key):
                return path
            items.append((path, item))
    elif isinstance(value, list):
        items = [(f"{field}[{index}]", item) for index, item in enumerate(value)]
    for path, item in items:
        found = _nul_field(item, path)
        if found is not None:
            return found
    return None


def parse_manifest(data: dict[str, Any], *, source: str = MANIFEST_NAME) -> AgentManifest:
    """Validate manifest data; errors name the field and the bad value.

    Raises:
        InvalidArgumentError: when a field is missing, unknown or has a bad value, or
            any text holds a NUL character (databases cannot store it in text).

    """
    field = _nul_field(data)
    if field is not None:
        raise InvalidArgumentError(
            f"{source}: field {field!r} contains a NUL character (\\x00), which is not "
            "allowed in a manifest"
        )
    try:
        return AgentManifest.model_validate(data)
    except ValidationError as exc:
        raise InvalidArgumentError(_describe(exc, source)) from None


def load_manifest(folder: Path) -> AgentManifest:
    """Read and validate ``folder/agent.toml`` and check that the entrypoint exists.

    Raises:
        NotFoundError: when the folder has no ``agent.toml`` or the entrypoint is missing.
        InvalidArgumentError: when the TOML or a field is invalid.

    """
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise NotFoundError(f"{folder}: no {MANIFEST_NAME} found (is this an agent folder?)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"{path}: invalid TOML: {exc}") from None
    manifest = parse_manifest(data, source=str(path))
    if not (folder / manifest.entrypoint).is_file():
        raise NotFoundError(f"{path}: field 'entrypoint' = {manifest.entrypoint!r}: file not found")
    return manifest
