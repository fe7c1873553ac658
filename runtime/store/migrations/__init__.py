"""Numbered migrations: ``NNNN_description.py`` with ``upgrade(conn, dialect)``.

Revision 1 is the initial schema, created from ``schema.metadata`` on a fresh database.
Each later module applies one forward-only change and may set ``MIN_CODE`` when older code
can no longer run on the result (expand first, contract only after every executor upgraded).
"""
