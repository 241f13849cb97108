"""`python -m kerasimb`: the same as the `kerasimb` command."""

import sys

from kerasimb.cli.main import main

sys.exit(main())
