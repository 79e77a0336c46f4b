"""Normal output carries no library chatter: faiss' loader logs each instruction set it tries
(``ModuleNotFoundError("No module named 'faiss.swigfaiss_avx512'")``) at INFO."""
import subprocess
import sys

CODE = """
import logging, sys
from sanny.engine import cli
cli._configure_logging(verbose=%s)
import faiss
"""


def test_faiss_loader_is_quiet_unless_verbose():
    quiet = subprocess.run([sys.executable, "-c", CODE % False], capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and "faiss.loader" not in quiet.stderr, quiet.stderr
    loud = subprocess.run([sys.executable, "-c", CODE % True], capture_output=True, text=True, timeout=120)
    assert loud.returncode == 0 and "faiss.loader" in loud.stderr  # the logger is the one silenced
