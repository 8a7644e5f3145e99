"""The sandbox's curated public surface."""

from __future__ import annotations

from supervisor import sandbox


def test_public_names_are_sorted_and_exported() -> None:
    assert sandbox.__all__ == sorted(sandbox.__all__)
    assert set(sandbox.__all__) == {"FaultRule", "Faults", "SandboxClock", "SandboxHandle", "serve_sandbox"}
    for name in sandbox.__all__:
        assert getattr(sandbox, name).__module__.startswith("supervisor.sandbox._")
