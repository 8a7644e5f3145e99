"""The paper sandbox: a local Kite Algo backend that speaks the worker API over real HTTP.

``serve_sandbox(...)`` runs it inside a trio nursery (tests, the daemon's embedded mode);
``kite-supervisor sandbox`` serves it standalone. See ``supervisor/sandbox/README.md``.
"""

from ._clock import SandboxClock as SandboxClock
from ._faults import FaultRule as FaultRule
from ._faults import Faults as Faults
from ._server import SandboxHandle as SandboxHandle
from ._server import serve_sandbox as serve_sandbox

__all__ = ["FaultRule", "Faults", "SandboxClock", "SandboxHandle", "serve_sandbox"]
