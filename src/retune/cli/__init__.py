"""The ``retune`` command: parse -> call api -> render (one renderer for tables and ``--json``)."""
