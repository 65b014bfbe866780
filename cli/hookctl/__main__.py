"""``python -m hookctl`` is the same as the ``hookctl`` console script."""

import sys

from hookctl.main import main

sys.exit(main())
