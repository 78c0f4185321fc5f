"""maskcls: mask status × gender × age-band classification."""

import time as _time

__version__ = "0.1.0"

STARTED = _time.perf_counter()
"""``time.perf_counter()`` when this process first imported maskcls: the zero of ``metrics.csv``'s ``process_s``."""
