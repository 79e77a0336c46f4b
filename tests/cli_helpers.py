"""Running ``sanny`` as a user does: a child process, its stderr and exit code."""
from __future__ import annotations

import subprocess
import sys

SANNY = [sys.executable, "-m", "sanny.engine"]


def run(*args, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*SANNY, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def one_line_error(p: subprocess.CompletedProcess, *words: str) -> str:
    """Exit code 2 and exactly one line on stderr (no traceback) containing ``words``."""
    lines = [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith(("INFO ", "WARNING "))]
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]
