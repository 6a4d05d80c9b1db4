"""``python -m widgets bench``: see :mod:`widgets.bench`."""

import sys

from widgets.bench import main

if __name__ == "__main__":
    sys.exit(main())
