"""Rollouts across platform revisions (Cloud Run, local processes)."""

from __future__ import annotations
