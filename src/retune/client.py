"""``HttpControlPlane``: the control plane's verbs sent to a ``retune serve``."""
