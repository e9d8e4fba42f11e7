"""``python -m jobrunner.worker``: the same as ``jobrunner-worker``."""

import sys

from jobrunner.worker.daemon import main


sys.exit(main())
