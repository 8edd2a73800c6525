import sys

from cadbench.cli import main

sys.exit(main())
