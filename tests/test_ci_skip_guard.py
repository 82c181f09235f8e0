"""The CI skip guard (tests/ci_skip_guard.py): every skip fails under DEVSPARK_REQUIRE_SERVICES=1."""

from __future__ import annotations

import pytest

COLLECTION_SKIP = """
import pytest

pytest.importorskip("devspark_no_such_module", reason="an optional package is missing")


def test_never_collected() -> None:
    assert True
"""

RUNTIME_SKIPS = """
import pytest


def test_skips_itself() -> None:
    pytest.skip("a service is down")


@pytest.mark.skipif(True, reason="no node here")
def test_unmarked_skipif() -> None:
    assert True


@pytest.fixture
def service() -> None:
    pytest.skip("fixture found nothing to talk to")


@pytest.mark.integration
def test_skipped_by_a_fixture(service: None) -> None:
    assert True


@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure() -> None:
    raise AssertionError


def test_runs() -> None:
    assert True
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nmarkers =\n    integration: real services\n")
    pytester.makepyfile(test_collection_skip=COLLECTION_SKIP, test_runtime_skips=RUNTIME_SKIPS)
    return pytester


def test_a_collection_time_skip_fails_in_ci(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSPARK_REQUIRE_SERVICES", "1")
    result = suite.runpytest("-p", "ci_skip_guard", "test_collection_skip.py")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting test_collection_skip.py*",
            "*skipped in CI (DEVSPARK_REQUIRE_SERVICES=1)*an optional package is missing*",
        ]
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error stops the run


def test_runtime_skips_fail_in_ci_whatever_the_markers(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEVSPARK_REQUIRE_SERVICES", "1")
    result = suite.runpytest("-p", "ci_skip_guard", "-rA", "test_runtime_skips.py")
    # A skip in setup (a mark, a fixture) reads as an error, one in the test as a failure.
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            "ERROR test_runtime_skips.py::test_unmarked_skipif - skipped in CI*",
            "ERROR test_runtime_skips.py::test_skipped_by_a_fixture - skipped in CI*",
            "FAILED test_runtime_skips.py::test_skips_itself - skipped in CI*",
        ],
        consecutive=False,
    )
    prefix = "skipped in CI (DEVSPARK_REQUIRE_SERVICES=1), where every test must run: Skipped: "
    for reason in ("a service is down", "no node here", "fixture found nothing to talk to"):
        assert prefix + reason in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED


@pytest.mark.parametrize("value", [None, "0"])
@pytest.mark.parametrize(
    ("path", "skipped", "passed", "xfailed"),
    [("test_collection_skip.py", 1, 0, 0), ("test_runtime_skips.py", 3, 1, 1)],
)
def test_skips_stay_skips_outside_ci(
    suite: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    value: str | None,
    path: str,
    skipped: int,
    passed: int,
    xfailed: int,
) -> None:
    if value is None:
        monkeypatch.delenv("DEVSPARK_REQUIRE_SERVICES", raising=False)
    else:
        monkeypatch.setenv("DEVSPARK_REQUIRE_SERVICES", value)
    result = suite.runpytest("-p", "ci_skip_guard", path)
    result.assert_outcomes(passed=passed, skipped=skipped, xfailed=xfailed)
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
