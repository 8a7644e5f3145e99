"""The hub's curated public surface: sorted ``__all__``, every name importable."""

from __future__ import annotations

from supervisor import hub


def test_all_is_sorted_and_resolves() -> None:
    assert list(hub.__all__) == sorted(hub.__all__)
    for name in hub.__all__:
        assert getattr(hub, name) is not None
    public = {n for n in dir(hub) if not n.startswith("_")}
    assert public - set(hub.__all__) <= {"annotations", "asynccontextmanager", "trio", "Any", "AsyncIterator"}
