"""Semantic versions (https://semver.org), ordered by precedence (section 11).

An agent's versions must grow in this order, and the newest live version is the
greatest one; the manifest check and the registry use the same grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from devspark.core.errors import InvalidArgumentError

SEMVER_RE = re.compile(
    r"^(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
    r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
"""``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`` with named groups (semver.org's grammar)."""


@total_ordering
@dataclass(frozen=True, slots=True)
class SemVer:
    """A parsed semantic version, ordered by semver.org precedence.

    Build metadata is kept but ignored by comparisons, so ``1.0.0+a == 1.0.0+b``.

    Attributes:
        major: Major version.
        minor: Minor version.
        patch: Patch version.
        prerelease: Dot-separated pre-release identifiers (empty for a release).
        build: Dot-separated build metadata identifiers.

    """

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> SemVer:
        """Parse ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``.

        Raises:
            InvalidArgumentError: ``text`` is not a semantic version.

        """
        match = SEMVER_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidArgumentError(
                f"version {text!r} is not a semantic version such as 1.2.0 or 2.0.0-rc.1"
            )
        pre, build = match["pre"], match["build"]
        return cls(
            int(match["major"]),
            int(match["minor"]),
            int(match["patch"]),
            tuple(pre.split(".")) if pre else (),
            tuple(build.split(".")) if build else (),
        )

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release ranks above any of its pre-releases; numeric identifiers rank below
        # alphanumeric ones and compare as numbers; a longer list of equal leading
        # identifiers ranks higher (tuple comparison does exactly that).
        pre = tuple(
            (0, int(ident), "") if ident.isdigit() else (1, 0, ident) for ident in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SemVer):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: SemVer) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def compare_semver(left: str, right: str) -> int:
    """Compare two semantic versions by precedence: ``-1``, ``0`` or ``1``.

    Raises:
        InvalidArgumentError: Either string is not a semantic version.

    """
    a, b = SemVer.parse(left), SemVer.parse(right)
    return (a > b) - (a < b)


__all__ = ["SEMVER_RE", "SemVer", "compare_semver"]
