"""``python -m gateway``: the command line."""

import sys

from gateway.cli import main

# The guard matters: the extraction engine starts processes with
# multiprocessing's forkserver, which imports the main module again.
if __name__ == "__main__":
    sys.exit(main())
