"""`python -m harvester` runs the `harvester` command."""

import sys

from harvester.cli import main

sys.exit(main())
