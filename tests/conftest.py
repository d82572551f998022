"""Settings for the whole test session."""

import os
import signal

# `retune run` in a test never starts a run agent that would outlive the test session
# (decision 0027); tests/e2e/test_run_agent.py turns it on, each test with its own.
os.environ["RETUNE_AGENT"] = "0"

# A shell without job control starts background commands (`make test &`) with SIGINT ignored,
# and an ignored signal stays ignored across exec: every `retune run` the tests start would
# then ignore the SIGINT (Ctrl-C) that the interrupt tests send. Python's own handler instead:
# it resets to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
