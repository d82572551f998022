"""The compiler: traced graph -> ``WorkflowSpec``. It owns its input type and never sees callables.

Import the submodules (``graph``, ``compile``, ``compiled``, ``types``): this package's
``__init__`` stays empty so that the SDK can build traced graphs without loading pydantic.
"""
