"""Suite-wide settings.

Hypothesis: the default run happens on a 2-core machine that also runs sandboxes, daemons and
Prometheus, so wall-clock health checks (``too_slow``) and per-example deadlines say more about
the machine's load than about the code. Properties are still checked on every example.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

settings.register_profile(
    "suite", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("suite")
