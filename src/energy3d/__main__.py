"""``python -m energy3d`` (also what ``torchrun ... -m energy3d fit`` runs)."""

import sys

from energy3d.cli.main import main

sys.exit(main())
