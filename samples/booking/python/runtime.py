#!/usr/bin/env python3
"""Starts the booking service of handlers.py on the Python SDK (sdk/python). The SDK reads
AGTP_GATEWAY_SOCKET (or --gateway-socket PATH), AGTP_POOL, AGTP_CONNECTIONS and
AGTP_MAX_IN_FLIGHT:

    AGTP_GATEWAY_SOCKET=/tmp/agtpd-booking.sock python3 samples/booking/python/runtime.py
"""

import os
import sys

try:
    import agtp_runtime  # noqa: F401 - installed with pip
except ImportError:
    # From a clone, without installing: the SDK's sources in the repository.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(1, os.path.join(here, "..", "..", "..", "sdk", "python", "src"))

from handlers import app  # noqa: E402

if __name__ == "__main__":
    app.run()
