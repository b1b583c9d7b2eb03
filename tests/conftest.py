"""Shared pytest fixtures (keep small; add fixtures per concern)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


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
        pytest.skip(f"shared data not found at {path} (set WINNOW_SHARED_DATA to its location)")
    return path
