"""`python -m benchmarks`: the command line (`benchmarks.cli`)."""
import sys

from benchmarks.cli import main

if __name__ == "__main__":
    sys.exit(main())
