import sys

from causalkit.cli import main

if __name__ == "__main__":
    sys.exit(main())
