"""One results document on disk (``NAME.json`` -> ``NAME.md`` + ``NAME.png``): the json written
atomically, the table and the plot always re-rendered from it (the only source of their numbers).
Shared by the ingest and churn reports."""
from __future__ import annotations

import json
import logging
import os
import sys

log = logging.getLogger(__name__)


def write_json(doc: dict, out_dir: str, name: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, path)
    return path


def render(out_dir: str, names: tuple, markdown, plot) -> dict:
    """``names`` = (json, md, png) in ``out_dir``; ``markdown(doc) -> str``, ``plot(doc, path)``."""
    with open(os.path.join(out_dir, names[0])) as f:
        doc = json.load(f)
    with open(os.path.join(out_dir, names[1]), "w") as f:
        f.write(markdown(doc))
    plot(doc, os.path.join(out_dir, names[2]))
    log.info("wrote %s to %s", ", ".join(names), out_dir)
    return doc


def present(out_dirs, name: str) -> bool:
    """Whether every directory holds ``name``; a one-line error on stderr for the first that does
    not (the ``--report-only`` / ``--compare`` modes re-render what a run wrote)."""
    for d in out_dirs:
        if not os.path.isfile(os.path.join(d, name)):
            print(f"error: {os.path.join(d, name)} not found", file=sys.stderr)
            return False
    return True
