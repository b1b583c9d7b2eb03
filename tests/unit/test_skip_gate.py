"""The CI skip gate in tests/conftest.py: with WINNOW_NO_SKIPS=1 a run that skips for any
reason other than missing shared data exits 1 and names the skips; without it, skips pass."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

PROBE = '''
import pytest

def test_ok():
    pass

def test_data_skip():
    pytest.skip("shared data not found at /nowhere (set WINNOW_SHARED_DATA to its location)")
'''


def _run(tmp_path: Path, files: dict[str, str], gate: bool) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    env = {k: v for k, v in os.environ.items() if k != "WINNOW_NO_SKIPS"}
    if gate:
        env["WINNOW_NO_SKIPS"] = "1"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "."],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_shared_data_skip_is_allowed(tmp_path):
    proc = _run(tmp_path, {"test_probe.py": PROBE}, gate=True)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 1 skipped" in proc.stdout and "unexpected skips" not in proc.stdout


def test_other_skips_fail_the_run_and_are_listed(tmp_path):
    other = PROBE + '''
def test_dependency_skip():
    pytest.skip("faiss-cpu not installed")
'''
    module = 'import pytest\npytest.importorskip("no_such_module_xyz")\n\ndef test_never():\n    pass\n'
    proc = _run(tmp_path, {"test_probe.py": other, "test_module_skip.py": module}, gate=True)
    assert proc.returncode == 1, proc.stdout
    assert "unexpected skips (WINNOW_NO_SKIPS=1)" in proc.stdout
    assert "test_probe.py::test_dependency_skip: faiss-cpu not installed" in proc.stdout
    assert "test_module_skip.py: could not import 'no_such_module_xyz'" in proc.stdout
    assert "2 test(s) skipped for a reason other than 'shared data not found'" in proc.stdout
    # without the switch the same run passes (a user's clone without the extras)
    assert _run(tmp_path, {}, gate=False).returncode == 0
