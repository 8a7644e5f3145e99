"""Example strategy plugins for kite-algo-supervisor: the seed's six worker scenarios.

Each module teaches one pattern (read its docstring first):

========================  ==================================================================
``basic_equity``          raw-client baseline: one idempotent entry, P&L reads, no auto-exit
``managed_lifecycle``     a safety check before every order, progress reporting
``mean_reversion``        warm-up from history, live hub candles, TA-Lib indicators, keys per bar
``option_spread``         options resolvers and the options run lifecycle
``live_exit_preview``     ``dry_run`` exit previews; live refused without KITE_ALGO_ENABLE_LIVE=1
``signal_driven``         external JSON signals (watched folder / HTTP), rejected with a reason
========================  ==================================================================

They are registered as entry points in ``kite_algo_supervisor.strategies`` by this
distribution's ``pyproject.toml``, exactly as a user's own strategy package would be.
"""
