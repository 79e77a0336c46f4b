"""Comma-separated lists on the bench commands' lines: one parser for all of them."""
from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence


def comma_list(ok: Callable[[str], object], usage: str):
    """An argparse ``type``: the items of a comma list, blanks and repeats dropped, each passing
    ``ok``; otherwise an error naming the items that do not and what to use (``usage``)."""
    def parse(s: str) -> list[str]:
        out = list(dict.fromkeys(x.strip() for x in s.split(",") if x.strip()))
        bad = [x for x in out if not ok(x)]
        if bad or not out:
            raise argparse.ArgumentTypeError(f"unknown {bad or 'empty list'}: use {usage}")
        return out
    return parse


def choices(names: Sequence[str]):
    """``comma_list`` of some of ``names``."""
    return comma_list(names.__contains__, "some of " + ", ".join(names))
