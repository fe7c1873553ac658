"""Output of the ``tether`` CLI: rich tables for people, ``--json`` for scripts.

JSON output is always one valid document on stdout (a list or an object), with stored values
as they were recorded and timestamps as epoch milliseconds, so scripts never parse tables.
Tables live beside their concern (``workflows``, ``versions``, ``queues``, ``replay``,
``system``) and take the records that ``tether.commands`` returns.
"""
