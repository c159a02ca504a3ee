"""Makes the package importable from a clone, installed or not."""

import os
import sys

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
if SRC not in sys.path:
    sys.path.insert(0, SRC)

import logging  # noqa: E402

# The runtime's log lines are expected in these tests; `assertLogs` still sees them.
logging.getLogger("agtp_runtime").addHandler(logging.NullHandler())
