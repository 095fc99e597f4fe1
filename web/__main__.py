import sys

from web.cli import main

if __name__ == "__main__":  # media workers are started processes that import this module again
    sys.exit(main())
