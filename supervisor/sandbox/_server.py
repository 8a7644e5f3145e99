"""``serve_sandbox``: the sandbox as a trio service (HTTP server plus its background loops).

    async with trio.open_nursery() as nursery:
        handle = await nursery.start(partial(serve_sandbox, token="kwa_test..."))
        ... handle.base_url, handle.token, handle.state, handle.faults, handle.mint_token(...)
        nursery.cancel_scope.cancel()

Everything runs in one nursery: hypercorn's trio server, the stale-run recovery loop (30 s), the
exiting loop (10 s), the protection loop (5 s) and the market tick loop. Time comes from trio's
clock, so tests drive it all with ``autojump_clock``.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import trio
from hypercorn.config import Config
from hypercorn.trio import serve

from ._app import build_app
from ._auth import ALL_ACTIONS, DEFAULT_ACCOUNT_SCOPE, DEFAULT_MODES, new_token, parse_scope
from ._clock import SandboxClock, clock_start_from_env
from ._context import AppContext
from ._faults import Faults
from ._loops import (
    EXITING_INTERVAL_S,
    PROTECTION_INTERVAL_S,
    RECOVERY_INTERVAL_S,
    exiting_tick,
    market_tick,
    protection_tick,
    recovery_tick,
)
from ._market import BarSourceFor, Market, PriceSource
from ._market_hours import MarketHours
from ._paper import PaperEngine
from ._state import SandboxState
from ._store import SandboxStore

log = logging.getLogger("supervisor.sandbox")


class _Default(enum.Enum):
    """``mint_token(account_scope=...)`` left out: the sandbox's own scope (``None`` is unscoped)."""

    SCOPE = "the sandbox's account scope"


SANDBOX_SCOPE = _Default.SCOPE


@dataclass(eq=False)
class SandboxHandle:
    """What ``serve_sandbox`` hands to its starter. ``token`` is secret: never log it."""

    base_url: str
    token: str
    ctx: AppContext
    faults: Faults
    store: SandboxStore | None

    def __repr__(self) -> str:
        return f"SandboxHandle(base_url={self.base_url!r})"

    @property
    def state(self) -> SandboxState:
        """The live pure state (runs, sessions, intents, timeline); read it in tests."""
        state: SandboxState = self.ctx.state
        return state

    @property
    def engine(self) -> PaperEngine:
        """The paper engine (orders, positions, GTTs, options runs)."""
        return self.ctx.engine

    @property
    def market(self) -> Market:
        """The synthetic market (prices, instruments, market hours)."""
        return self.ctx.market

    @property
    def account_scope(self) -> str:
        """The scope of the sandbox's own token (``--account-scope``, default ``kite:paper-a``)."""
        scope: str = self.ctx.extras["account_scope"]
        return scope

    def mint_token(
        self,
        *,
        account_scope: str | _Default | None = SANDBOX_SCOPE,
        modes: Iterable[str] = DEFAULT_MODES,
        actions: Iterable[str] = ALL_ACTIONS,
        templates: Iterable[str] = (),
        expires_at: dt.datetime | None = None,
    ) -> str:
        """Mint an extra worker token with the given grants; returns the token. Never blocks.

        ``account_scope`` defaults to the sandbox's scope; ``None`` mints an unscoped token
        (any account, as an operator may mint on the reference server, contract §2.1).
        """
        minter: Callable[..., str] = self.ctx.extras["mint_token"]
        return minter(
            account_scope=account_scope,
            modes=modes,
            actions=actions,
            templates=templates,
            expires_at=expires_at,
        )

    def steal_session(self, run_id: str) -> str:
        """Simulate another worker taking the run's session over now; returns the new nonce.

        The current holder then gets 409 ``WORKER_SESSION_CONFLICT`` on its next heartbeat or
        guarded call, exactly as after a real takeover. Raises ``KeyError`` for an unknown run.
        """
        return steal_session(self.ctx, run_id)

    def commit(self) -> None:
        """Write pending state changes through (tests that mutate ``state`` directly)."""
        self.ctx.changed()


def steal_session(ctx: AppContext, run_id: str) -> str:
    import secrets

    state: SandboxState = ctx.state
    run = state.runs[run_id]
    run.worker_session_nonce = "wsn_" + secrets.token_hex(16)
    run.worker_session_claimed_at = ctx.now()
    state.mark(run)
    ctx.changed()
    return run.worker_session_nonce


def _make_context(
    *,
    token: str,
    db_path: str | None,
    seed: int,
    market_hours: str,
    epoch: dt.datetime | None,
    tick_phases: int = 1,
    account_scope: str = DEFAULT_ACCOUNT_SCOPE,
    clock: SandboxClock | None = None,
    price_source: PriceSource | None = None,
    bar_source: BarSourceFor | None = None,
) -> tuple[AppContext, SandboxStore | None]:
    # ``clock``, ``price_source`` and ``bar_source``: the backtest's virtual market clock and
    # replayed history (prices and candles)
    # (supervisor.backtest), which serves this context in-process instead of over hypercorn
    hours = MarketHours.parse(market_hours)  # ValueError before anything is opened
    scope, _ = parse_scope(account_scope)
    if clock is None:
        clock = SandboxClock(epoch if epoch is not None else clock_start_from_env())
    store = SandboxStore(db_path) if db_path else None
    engine_blob = None
    if store is not None:
        state, engine_blob = store.load()
    else:
        state = SandboxState()
    market = Market(
        seed, clock.now(), hours, phases=tick_phases, price_source=price_source, bar_source=bar_source
    )
    engine = PaperEngine(market)
    if engine_blob is not None:
        engine.restore(engine_blob)
    faults = Faults()
    ctx = AppContext(state=state, clock=clock, tokens=state.tokens, engine=engine, faults=faults)

    def commit() -> None:
        current: SandboxState = ctx.state
        changes = current.take_changes()
        if store is not None:
            store.write(changes, current, ctx.engine)
        if changes.events:
            ctx.timeline_signal.fire()

    def mint(
        *,
        account_scope: str | _Default | None = SANDBOX_SCOPE,
        modes: Iterable[str] = DEFAULT_MODES,
        actions: Iterable[str] = ALL_ACTIONS,
        templates: Iterable[str] = (),
        expires_at: dt.datetime | None = None,
        token: str | None = None,
    ) -> str:
        current: SandboxState = ctx.state
        if isinstance(expires_at, str):
            expires_at = dt.datetime.fromisoformat(expires_at)
        raw, _ = current.tokens.mint(
            now=clock.now(),
            token=token,
            account_scope=ctx.extras["account_scope"] if account_scope is SANDBOX_SCOPE else account_scope,
            modes=modes,
            actions=actions,
            templates=templates,
            expires_at=expires_at,
        )
        current.tokens_changed()
        commit()
        return raw

    def reload() -> None:
        if store is None:
            return
        fresh, blob = store.load()
        ctx.state = fresh
        ctx.tokens = fresh.tokens
        if blob is not None:
            ctx.engine.restore(blob)
        ctx.timeline_signal.fire()

    ctx.on_change = commit
    ctx.extras["mint_token"] = mint
    faults.reload = reload
    # The operator's token: full worker grants, paper and dry_run (contract §2.1 defaults), on the
    # sandbox's account scope, so that calls defaulting to the token's scope (the seed's
    # ``get_funds(mode="paper")``) have an account, as a token minted with a scope does.
    ctx.extras["account_scope"] = scope
    ctx.extras["started_at"] = clock.now()  # when reference data (calendar, index lists) "loaded"
    own = ctx.state.tokens.by_hash.get(_digest(token))
    if own is None:
        mint(token=token)
    elif own.account_scope != scope:  # a persisted token follows --account-scope of this start
        own.account_scope = scope
        ctx.state.tokens_changed()
        commit()
    return ctx, store


def _digest(token: str) -> str:
    from ._auth import hash_token

    return hash_token(token)


async def _every(interval: float, step: Callable[[], None]) -> None:
    """Call ``step`` every ``interval`` seconds of trio time, on a drift-free schedule."""
    deadline = trio.current_time() + interval
    while True:
        await trio.sleep_until(deadline)
        deadline += interval
        try:
            step()
        except Exception:  # isolation boundary: a loop pass failing must not stop the server
            log.exception("sandbox background loop failed")


def market_step(ctx: AppContext) -> None:
    """One market step; wakes tick and candle streams when prices moved."""
    if market_tick(ctx.state, ctx.engine, ctx.now()):
        ctx.tick_signal.fire()
    ctx.changed()


def _loop_steps(ctx: AppContext, tick_interval: float) -> list[tuple[float, Callable[[], None]]]:
    """The background loops: (interval, step); the market's runs once per phase step."""

    def recovery() -> None:
        recovery_tick(ctx.state, ctx.engine, ctx.now())
        ctx.changed()

    def exiting() -> None:
        exiting_tick(ctx.state, ctx.now())
        ctx.changed()

    def protection() -> None:
        protection_tick(ctx.state, ctx.engine, ctx.now())
        ctx.changed()

    return [
        (tick_interval / ctx.market.phases, partial(market_step, ctx)),
        (RECOVERY_INTERVAL_S, recovery),
        (EXITING_INTERVAL_S, exiting),
        (PROTECTION_INTERVAL_S, protection),
    ]


async def serve_sandbox(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    token: str | None = None,
    db_path: str | None = None,
    seed: int = 1,
    tick_interval: float = 1.0,
    market_hours: str = "always",
    epoch: dt.datetime | None = None,
    tick_phases: int = 1,
    account_scope: str = DEFAULT_ACCOUNT_SCOPE,
    task_status: trio.TaskStatus[SandboxHandle] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the sandbox until cancelled; ``task_status.started(SandboxHandle)`` once bound.

    ``token`` is the worker token to accept (default: ``$KITE_ALGO_WORKER_TOKEN`` or a fresh
    ``kwa_`` token). ``port=0`` binds a free port (see ``handle.base_url``). ``seed`` fixes the
    random walk, one market step every ``tick_interval`` seconds; ``market_hours`` is
    ``"always"`` or ``"nse"`` (09:15-15:30 IST, Monday to Friday). ``tick_phases=K`` spreads each
    step over K phases ``tick_interval / K`` apart, instrument token mod K choosing an
    instrument's phase, and tick streams send one event per phase (``_market``). ``epoch`` is the
    instant the sandbox's clock starts at (default ``$KITE_SANDBOX_CLOCK_START``, else the real
    time; ``_clock``); it then advances with trio's clock. ``account_scope`` is the scope of the
    sandbox's token (and the default of ``mint_token``). Raises ``OSError`` when the address
    cannot be bound, ``ValueError`` for unknown ``market_hours``, ``tick_phases`` below 1 or an
    unsupported ``account_scope``.
    """
    token = token or os.environ.get("KITE_ALGO_WORKER_TOKEN") or new_token()
    ctx, store = _make_context(
        token=token,
        db_path=db_path,
        seed=seed,
        market_hours=market_hours,
        epoch=epoch,
        tick_phases=tick_phases,
        account_scope=account_scope,
    )
    assert isinstance(ctx.faults, Faults)
    config = Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")  # our logging, not a second handler
    config.graceful_timeout = 1.0
    config.keep_alive_timeout = 75.0
    try:
        async with trio.open_nursery() as nursery:
            app: Any = build_app(ctx)
            binds = await nursery.start(partial(serve, app, config, mode="asgi"))
            base_url = str(binds[0]).rstrip("/")
            for interval, step in _loop_steps(ctx, tick_interval):
                nursery.start_soon(_every, interval, step)
            task_status.started(SandboxHandle(base_url, token, ctx, ctx.faults, store))
    finally:
        if store is not None:
            store.close()
