"""``python -m sanny.bench DATASET --out DIR ...`` (same as ``sanny bench``)."""
import argparse
import logging
import sys

from .cli import add_arguments, main

if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m sanny.bench", description=__doc__)
    add_arguments(p)
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO if a.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    sys.exit(main(a))
