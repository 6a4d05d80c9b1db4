"""``python -m widgets bench``: see :mod:`widgets.bench`."""

import sys

from widgets.bench import main

sys.exit(main())
