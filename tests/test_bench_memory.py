"""`zsclf benchmark`'s cold-start peak RSS is the child's own, not inherited from the (large) benchmark process:
Linux keeps ru_maxrss across exec, so three different models once all reported the benchmark's 991 MB."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from zsclf.measure.bench import _peak_while_running


def _peak_mb(code: str) -> float:
    child = subprocess.Popen([sys.executable, "-c", code])
    peak_kb, status, _ = _peak_while_running(child.pid)
    child.returncode = status
    assert status == 0
    return peak_kb / 1024


def test_a_small_child_of_a_large_process_reports_its_own_peak():
    ballast = np.ones((600, 1 << 20), np.uint8)  # this process: > 600 MB resident
    small = _peak_mb("import time; time.sleep(0.3)")
    large = _peak_mb("x = bytearray(300 << 20); x[::4096] = b'1' * len(x[::4096]); import time; time.sleep(0.3)")
    assert ballast.sum() > 0
    assert small < 100, small
    assert 300 < large < 500, large
