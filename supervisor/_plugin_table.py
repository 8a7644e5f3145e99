"""What ``kite-supervisor plugins`` prints: a readable table, or JSON with the full schemas.

The table shows, per plugin, its distribution and entry point, the first line of its docstring
and one row per parameter: name, type (as written in the ``Params`` model, ``Literal`` choices
spelled out), default (or ``required``), constraints and description. ``--json`` prints the
pydantic JSON schema of each plugin's parameters instead, for tools. Pure: the caller loads the
plugins.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

__all__ = ["PluginRow", "format_plugins_json", "format_plugins_table", "type_name"]


@dataclass(frozen=True)
class PluginRow:
    """One installed plugin: loaded (``params`` set) or broken (``error`` set)."""

    name: str
    target: str
    distribution: str | None
    summary: str = ""
    params: type[BaseModel] | None = None
    error: str | None = None


def type_name(annotation: Any) -> str:
    """A short, readable spelling of a field's type: ``int``, ``str | None``,
    ``'minute' | '5minute'``, ``list[str]``."""
    if annotation is None or annotation is type(None):
        return "None"
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is not None:
        base = getattr(origin, "__name__", str(origin))
        return f"{base}[{', '.join(type_name(a) for a in args)}]" if args else base
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    return repr(field.get_default(call_default_factory=True))


_BOUNDS = (("gt", "> "), ("ge", ">= "), ("lt", "< "), ("le", "<= "), ("min_length", "len >= "),
           ("max_length", "len <= "), ("multiple_of", "multiple of "), ("pattern", "matches "))  # fmt: skip


def _constraint(meta: Any) -> str:
    for attr, prefix in _BOUNDS:
        value = getattr(meta, attr, None)
        if value is not None:
            return f"{prefix}{value}"
    return repr(meta)


def _constraints(field: FieldInfo) -> str:
    # pydantic keeps Field(gt=0, le=500) as annotated_types records (Gt(gt=0), Le(le=500))
    return ", ".join(_constraint(m) for m in field.metadata)


def _param_rows(model: type[BaseModel]) -> list[tuple[str, str, str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        detail = "; ".join(x for x in (_constraints(field), field.description or "") if x)
        rows.append((name, type_name(field.annotation), _default(field), detail))
    return rows


def format_plugins_table(plugins: Sequence[PluginRow]) -> str:
    """Every plugin as a heading line and an aligned parameter table."""
    lines: list[str] = []
    for plugin in plugins:
        origin = plugin.distribution or "not installed from a distribution"
        lines.append(f"{plugin.name}  ({origin}; {plugin.target})")
        if plugin.error is not None:
            lines += [f"  BROKEN: {plugin.error}", ""]
            continue
        if plugin.summary:
            lines.append(f"  {plugin.summary}")
        rows = _param_rows(plugin.params) if plugin.params is not None else []
        if not rows:
            lines += ["  no parameters", ""]
            continue
        table = [("PARAMETER", "TYPE", "DEFAULT", "CONSTRAINTS / DESCRIPTION"), *rows]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        for row in table:
            cells = [c.ljust(w) for c, w in zip(row[:3], widths, strict=True)]
            lines.append(("  " + "  ".join(cells) + "  " + row[3]).rstrip())
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def format_plugins_json(plugins: Sequence[PluginRow]) -> str:
    """``{name: {target, distribution, summary, params_schema}}`` (or ``error`` when broken)."""
    doc: dict[str, dict[str, Any]] = {}
    for plugin in plugins:
        entry: dict[str, Any] = {"target": plugin.target, "distribution": plugin.distribution}
        if plugin.error is not None:
            entry["error"] = plugin.error
        else:
            entry["summary"] = plugin.summary
            entry["params_schema"] = plugin.params.model_json_schema() if plugin.params is not None else {}
        doc[plugin.name] = entry
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
