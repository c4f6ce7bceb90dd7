#!/usr/bin/env python3
"""Runs caucus-mcp 1.3.0's hub with its limits lifted, for the benchmark.

Usage: bench_pyhub.py --port PORT  (with the reference venv's python)

The same footing as ours with --no-rate-limit --max-peers 2000: the
per-sender bucket, the per-address registration bucket and the client cap
are raised before its main() runs. Its stdout and stderr are the hub's own.
"""

import sys

import caucus.hub as hub
import caucus.state as state

BIG = 1e12
hub.state._bucket_capacity = BIG
hub.state._bucket_refill = BIG
hub._REGISTER_BUCKET_CAPACITY = BIG
hub._REGISTER_BUCKET_REFILL = BIG
state.MAX_CLIENTS = 100_000

sys.argv = ["caucus-hub", "--host", "127.0.0.1", "--no-browser", "--log-level", "WARNING", *sys.argv[1:]]
hub.main()
