"""Shared by the hub benches: a standalone sandbox process on loopback, its CPU, the instruments
its tick stream serves, and the offset of its tick stamps from our clock (``Stamps``)."""

from __future__ import annotations

import datetime as dt
import os
import string
import subprocess
import sys
import time
from collections.abc import Callable, Mapping

import httpx

from supervisor.client import AlgoWorkerConfig, AsyncKiteAlgoWorkerClient, KiteAlgoWorkerError

__all__ = [
    "TOKEN",
    "Stamps",
    "clock_skew",
    "cpu_seconds",
    "discover",
    "open_client",
    "spellings",
    "start_sandbox",
    "start_sandboxes",
    "step_phase",
]

TOKEN = "kwa_" + "g" * 43
CLK_TCK = os.sysconf("SC_CLK_TCK")


def start_sandbox(tick_interval: float) -> tuple[subprocess.Popen[str], str]:
    """A standalone sandbox process on a free loopback port; returns it and its base URL."""
    return start_sandboxes(1, tick_interval)[0]


def start_sandboxes(n: int, tick_interval: float) -> list[tuple[subprocess.Popen[str], str]]:
    """``n`` of them, one after the other, ``tick_interval / n`` apart: their market steps fall
    at different phases (each one's loop starts after its imports, so the phases are only
    roughly spread; ``step_phase`` tells)."""
    cmd = [sys.executable, "-m", "supervisor", "--log-level", "WARNING", "sandbox", "--port", "0",
           "--token", TOKEN, "--tick-interval", str(tick_interval)]  # fmt: skip
    started = []
    for _ in range(n):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        started.append((proc, proc.stdout.readline().strip()))
        time.sleep(tick_interval / n)
    return started


async def step_phase(client: AsyncKiteAlgoWorkerClient, symbol: str, tick_interval: float) -> float:
    """When in the market step (s, modulo ``tick_interval``) the sandbox stamps its ticks."""
    async with client.stream_ticks([symbol]) as events:
        await events.__anext__()  # snapshot
        tick = await events.__anext__()
    stamp = dt.datetime.fromisoformat(tick["ticks"][0]["exchange_timestamp"]).timestamp()
    return stamp % tick_interval


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def open_client(base_url: str) -> AsyncKiteAlgoWorkerClient:
    # The client's own pool holds AlgoWorkerConfig.max_connections (256); per-instrument streams
    # for more instruments need more, so the bench gives both groupings a transport without a cap.
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))
    config = AlgoWorkerConfig(base_url=base_url, token=TOKEN)
    return AsyncKiteAlgoWorkerClient(config, transport=transport, environ={})


async def discover(client: AsyncKiteAlgoWorkerClient) -> list[str]:
    """Identifiers the tick stream serves: search hits and option contracts, each probed."""
    candidates: dict[str, None] = {}
    for letter in string.ascii_uppercase:
        try:
            found = await client.search_tickers(letter, limit=50)
        except KiteAlgoWorkerError:
            continue
        for row in found.get("results") or []:
            candidates[row.get("symbol") or f"{row['exchange']}:{row['tradingsymbol']}"] = None
    for underlying in ("NIFTY", "BANKNIFTY"):
        try:
            chain = await client.options.get_chain(underlying)
        except KiteAlgoWorkerError:
            continue
        for row in chain.get("chain") or []:
            for side in ("ce", "pe"):
                if row.get(side):
                    candidates[f"NFO:{row[side]['tsym']}"] = None
    served: list[str] = []
    names = list(candidates)
    for i in range(0, len(names), 50):
        chunk = names[i : i + 50]
        try:
            async with client.stream_ticks(chunk) as events:
                snapshot = await events.__anext__()
        except KiteAlgoWorkerError:
            continue
        quotes = snapshot.get("quotes") or {}
        if isinstance(quotes, Mapping):
            served += [name for name in chunk if name in quotes]
        else:  # a list of quote objects (the reference server's shape)
            symbols = {q.get("symbol") for q in quotes} | {q.get("tradingsymbol") for q in quotes}
            served += [n for n in chunk if n in symbols or n.split(":")[-1] in symbols]
    return served


async def clock_skew(client: AsyncKiteAlgoWorkerClient, now: Callable[[], float]) -> float:
    """The sandbox's clock minus ``now()`` (s), to within half the fastest round trip.

    Read from ``updated_at`` of the options expiries, stamped with the sandbox's clock when the
    request is served (a quote's ``exchange_timestamp`` is that of its market step's first
    quote, up to a step old)."""
    best = (float("inf"), 0.0)
    for _ in range(20):
        t0 = now()
        found = await client.options.list_expiries("NIFTY")
        t1 = now()
        stamp = dt.datetime.fromisoformat(found["updated_at"]).timestamp()
        best = min(best, (t1 - t0, stamp - (t0 + t1) / 2))
    return best[1]


def _case_variant(name: str, mask: int) -> str:
    chars = list(name)
    letters = [i for i, c in enumerate(chars) if c.isalpha()]
    for bit, i in enumerate(letters):
        if mask >> bit & 1:
            chars[i] = chars[i].lower()
    return "".join(chars)


def spellings(served: list[str], n: int) -> list[str]:
    """``n`` distinct identifiers: the served instruments, then, while fewer are served, other
    spellings of them by letter case (``nse:INFY``). The sandbox resolves a spelling to its
    instrument and sends one quote per requested entry; the hub keeps one topic per spelling.
    So N spellings of 6 instruments cost the wire, the fan-out and the subscribers what N
    instruments would (only the hub's decoding of a quote is shared per instrument)."""
    out = list(dict.fromkeys(served[:n]))
    seen = set(out)
    for mask in range(1, 1 << 12):
        if len(out) >= n:
            break
        for name in served:
            variant = _case_variant(name, mask)
            if variant not in seen and len(out) < n:
                seen.add(variant)
                out.append(variant)
    return out


class Stamps:
    """``exchange_timestamp`` -> our clock (s), parsed once per distinct stamp.

    Our clock is the sandbox's kind: the wall time at construction plus the monotonic time
    since (``SandboxClock`` is wall time at start plus trio's monotonic clock). Against
    ``time.time()`` the stamps would drift: on this machine the wall clock gains about 0.5 %
    on the monotonic one (``wall_drift``), 5 ms per second of the sandbox's age. ``skew`` (the
    sandbox's stamps minus ``now()``, from :func:`clock_skew`) is removed."""

    def __init__(self, skew: float = 0.0) -> None:
        self.skew = skew
        self._wall0, self._mono0 = time.time(), time.monotonic()
        self._seen: dict[str, float] = {}

    def now(self) -> float:
        return self.at(time.monotonic())

    def at(self, monotonic: float) -> float:
        """Our clock at the ``time.monotonic()`` reading ``monotonic``."""
        return self._wall0 + (monotonic - self._mono0)

    def with_skew(self, skew: float) -> Stamps:
        """The same clock (same anchor) for another sandbox, whose offset is ``skew``."""
        other = Stamps(skew)
        other._wall0, other._mono0 = self._wall0, self._mono0
        return other

    def wall_drift(self) -> float:
        """How much faster the wall clock ran than the monotonic one since construction."""
        mono = time.monotonic() - self._mono0
        return (time.time() - self._wall0 - mono) / mono if mono > 0 else 0.0

    def emitted(self, stamp: str) -> float:
        value = self._seen.get(stamp)
        if value is None:
            if len(self._seen) > 100_000:
                self._seen.clear()
            value = self._seen[stamp] = dt.datetime.fromisoformat(stamp).timestamp() - self.skew
        return value

    def delay(self, stamp: str) -> float:
        """From the stamp to now (s)."""
        return self.now() - self.emitted(stamp)
