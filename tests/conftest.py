"""Test-session setup: 8 fake CPU devices for the distributed tests, and a persistent XLA
compilation cache shared by the test processes and the subprocesses they start (many tests
compile the same small programs: the cache turns a 24 s trainer subprocess into 7 s).

XLA_FLAGS must be set before jax is first imported, so it is done here, at collection time.
"""

import os
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      os.path.join(tempfile.gettempdir(), f"jclip-tests-xla-cache-{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

import pathlib

import pytest

SLOW_TESTS = pathlib.Path(__file__).with_name("slow_tests.txt")


def pytest_collection_modifyitems(config, items):
    """Marks the measured slow tests (slow_tests.txt) `slow`, so `make test-fast` (-m "not slow")
    leaves them out; `make test` runs everything."""
    slow = {line.strip() for line in SLOW_TESTS.read_text().splitlines()
            if line.strip() and not line.startswith("#")}
    for item in items:
        if item.nodeid in slow:
            item.add_marker(pytest.mark.slow)
