"""What a demo revision serves: ``tether serve tether.demo.revision:app``, with the release
(``v1``, ``v2``, ``v2-bad``) in ``TETHER_DEMO_RELEASE`` and everything else in the
environment that ``LocalPlatform`` gives each instance (app name, database, version)."""

from __future__ import annotations

import os

from .agent import make_app

app = make_app(os.environ.get("TETHER_DEMO_RELEASE", "v1"))
