"""Isolation levels live in the core; the sandbox re-exports the same enum."""

from __future__ import annotations

import pytest

import devspark
from devspark import sandbox
from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel


def test_sandbox_and_package_re_export_the_core_enum() -> None:
    assert sandbox.IsolationLevel is IsolationLevel
    assert devspark.IsolationLevel is IsolationLevel


def test_parse_names_each_level_and_suggests_a_near_name() -> None:
    assert [IsolationLevel.parse(level.value) for level in IsolationLevel] == list(IsolationLevel)
    with pytest.raises(InvalidArgumentError, match=r"isolation 'proces' .*did you mean"):
        IsolationLevel.parse("proces")
