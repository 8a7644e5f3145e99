"""Sharding the strategies of one config across several daemons (pure; no I/O).

A Kubernetes StatefulSet gives each pod a stable ordinal (``kite-supervisor-4`` is ordinal 4).
With ``SUPERVISOR_SHARD_COUNT=N`` every daemon hosts the strategies whose shard is
``ordinal % N``, and a strategy's shard is ``crc32(name) % N``: stable across processes, Python
versions and restarts (unlike ``hash()``), and independent of the order of the config file.

``replicas = 2 * N`` gives every shard two pods (ordinals ``k`` and ``k + N``): both host the same
strategies; the backend's session claim decides which one drives each run and the other waits
in ``standby``, taking over when the holder's session lapses (60 s without heartbeats, contract
§7.5). That is how a machine loss is survived (with pod anti-affinity spreading the pods).

Environment (read by :func:`shard_from_env`):

* ``SUPERVISOR_SHARD_COUNT``: number of shards (unset or ``1``: no sharding);
* ``SUPERVISOR_SHARD_INDEX``: the ordinal, e.g. from the downward API label
  ``apps.kubernetes.io/pod-index``; when unset, the trailing ``-<n>`` of ``POD_NAME`` or
  ``HOSTNAME`` is used.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["Shard", "ShardConfigError", "shard_from_env", "shard_of"]

T = TypeVar("T")
_ORDINAL = re.compile(r"-(\d+)$")


class ShardConfigError(ValueError):
    """The shard environment is inconsistent (the message names the variable)."""


def shard_of(name: str, count: int) -> int:
    """The shard of strategy ``name`` among ``count`` shards."""
    if count < 1:
        raise ShardConfigError("SUPERVISOR_SHARD_COUNT must be >= 1")
    return zlib.crc32(name.encode()) % count


@dataclass(frozen=True)
class Shard:
    """This daemon's shard: ``index`` in ``range(count)`` (the ordinal modulo ``count``)."""

    index: int
    count: int

    def owns(self, name: str) -> bool:
        return shard_of(name, self.count) == self.index

    def select(self, items: Iterable[T], name: Callable[[T], str]) -> list[T]:
        """The items (e.g. resolved strategies) this daemon hosts, in their original order."""
        return [item for item in items if self.owns(name(item))]


def shard_from_env(environ: Mapping[str, str]) -> Shard | None:
    """This daemon's shard, or None when sharding is off. Raises :class:`ShardConfigError`."""
    raw_count = environ.get("SUPERVISOR_SHARD_COUNT", "").strip()
    if not raw_count:
        return None
    if not raw_count.isdigit() or int(raw_count) < 1:
        raise ShardConfigError(f"SUPERVISOR_SHARD_COUNT={raw_count!r}: expected a positive integer")
    count = int(raw_count)
    raw_index = environ.get("SUPERVISOR_SHARD_INDEX", "").strip()
    if not raw_index:
        for variable in ("POD_NAME", "HOSTNAME"):
            match = _ORDINAL.search(environ.get(variable, ""))
            if match:
                raw_index = match.group(1)
                break
        else:
            raise ShardConfigError(
                "SUPERVISOR_SHARD_COUNT is set but neither SUPERVISOR_SHARD_INDEX nor a POD_NAME/HOSTNAME "
                "ending in -<ordinal> is"
            )
    if not raw_index.isdigit():
        raise ShardConfigError(f"SUPERVISOR_SHARD_INDEX={raw_index!r}: expected a non-negative integer")
    return Shard(int(raw_index) % count, count)
