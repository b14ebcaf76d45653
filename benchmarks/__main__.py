"""`python -m benchmarks`: the command line (`benchmarks.cli`)."""
import sys

import benchmarks.binding  # noqa: F401  (first, even where a folder named benchmarks/ shadows the face)
from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
