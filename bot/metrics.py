"""Prometheus metrics of the process (served at GET /metrics by bot/http_server.py)."""
from __future__ import annotations

from prometheus_client import Gauge

JOBS_LEADER = Gauge("bot_jobs_leader", "1 in the process that runs the periodic jobs, 0 elsewhere")
