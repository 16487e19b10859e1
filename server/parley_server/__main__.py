"""``python -m parley_server``: run the server (same options as ``parley serve``)."""

import sys

from .app import main

sys.exit(main())
