"""Moved: ``python -m perturb_lib.grow`` (same flags). Kept only until the ledger growth started with this path
ends; removed with the next commit that does not need it."""
import sys

from perturb_lib.grow import main

if __name__ == "__main__":
    sys.exit(main())
