"""The paper sandbox: a local Kite Algo backend that speaks the worker API over real HTTP."""

__all__: list[str] = []
