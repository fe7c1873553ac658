"""``python -m tether``: the ``tether`` command with this interpreter."""

from tether.cli import main

main()
