"""``python -m tokensim.server.cli``: the ``tokensim`` command without its console script."""

import sys

from tokensim.server.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    sys.exit(main())
