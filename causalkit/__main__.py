import sys

from causalkit.cli import main

sys.exit(main())
