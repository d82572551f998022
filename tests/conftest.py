"""Settings for the whole test session."""

import os

# `retune run` in a test never starts a run agent that would outlive the test session
# (decision 0027); tests/e2e/test_run_agent.py turns it on, each test with its own.
os.environ["RETUNE_AGENT"] = "0"
