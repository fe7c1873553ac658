"""``python -m tether.cli``: the ``tether`` command."""

from . import main

main()
