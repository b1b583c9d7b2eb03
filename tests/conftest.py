"""Shared pytest fixtures (keep small; add fixtures per concern), and the skip gate of CI.

With ``WINNOW_NO_SKIPS=1`` (``.ci/run`` sets it) a run that skipped anything for a reason
other than missing shared data (reasons starting with :data:`SHARED_DATA_SKIP`) lists those
skips and exits 1, even when every test passed: a broken build or a missing test dependency
must fail CI, not skip its way to green.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

#: The one skip reason CI accepts: a fresh clone has no ../shared/data beside it.
SHARED_DATA_SKIP = "shared data not found"


def _shared_data_dir() -> Path:
    env = os.environ.get("WINNOW_SHARED_DATA")
    if env:
        return Path(env)
    # ../shared/data beside the checkout (development and CI layout).
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real collections of ``../shared/data`` (or ``$WINNOW_SHARED_DATA``); skip if absent."""
    path = _shared_data_dir()
    if not (path / "README.md").is_file():
        pytest.skip(f"{SHARED_DATA_SKIP} at {path} (set WINNOW_SHARED_DATA to its location)")
    return path


# ------------------------------------------------------------------------------ skip gate
_skips: list[tuple[str, str]] = []  # (test or collector id, reason) of every skip this session
_unexpected: list[tuple[str, str]] = []


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:  # (path, lineno, "Skipped: reason")
        reason = str(longrepr[2])
    else:
        reason = str(longrepr)
    return reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):  # xfail is not a skip
        _skips.append((report.nodeid, _skip_reason(report)))


def pytest_collectreport(report):
    if report.skipped:  # a whole module skipped at import (importorskip, module-level skip)
        _skips.append((report.nodeid, _skip_reason(report)))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("WINNOW_NO_SKIPS") != "1":
        return
    _unexpected[:] = [(node, reason) for node, reason in _skips
                      if not reason.startswith(SHARED_DATA_SKIP)]
    if _unexpected and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    if not _unexpected:
        return
    terminalreporter.section("unexpected skips (WINNOW_NO_SKIPS=1)", red=True, bold=True)
    for node, reason in _unexpected:
        terminalreporter.write_line(f"{node}: {reason}")
    terminalreporter.write_line(f"{len(_unexpected)} test(s) skipped for a reason other than "
                                f"'{SHARED_DATA_SKIP}': the run fails (exit 1)")
