"""The console's pages, rendered from plain data (pure: no I/O, time passed in).

Inputs are the ``/status`` document's strategy entries (dicts), each optionally carrying a
``money`` entry (``Money.as_dict()``), the P&L history ``[(unix time, net P&L)]`` and the log
tail. Every value that reaches the HTML goes through ``html.escape``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["ATTENTION", "index_page", "pnl_svg", "strategies_table", "strategy_page"]

ATTENTION = frozenset({"quarantined", "stalled", "session_lost", "failed"})  # states an operator must see

STYLE = """
:root{--bg:#0f1419;--panel:#171d24;--line:#273039;--text:#d8dee6;--muted:#8a96a3;
--green:#3fb950;--red:#f85149;--amber:#d29922;--blue:#58a6ff}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;background:var(--bg);
color:var(--text)}header{display:flex;align-items:baseline;gap:16px;padding:14px 24px;
border-bottom:1px solid var(--line);background:var(--panel)}header h1{font-size:18px;margin:0}
header a{color:var(--blue);text-decoration:none}main{padding:20px 24px;max-width:1400px}
.cards{display:flex;gap:12px;margin-bottom:18px;flex-wrap:wrap}.card{background:var(--panel);
border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px}
.card .k{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:22px;font-weight:600}table{border-collapse:collapse;width:100%;
background:var(--panel);border:1px solid var(--line);border-radius:8px;overflow:hidden}
th,td{padding:7px 10px;text-align:left;border-bottom:1px solid var(--line);white-space:nowrap}
th{color:var(--muted);font-weight:500;font-size:12px;text-transform:uppercase}td.n{text-align:right;
font-variant-numeric:tabular-nums}tr:last-child td{border-bottom:0}a{color:var(--blue)}
.pos{color:var(--green)}.neg{color:var(--red)}.muted{color:var(--muted)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.s-running{background:#12361f;color:var(--green)}.s-quarantined,.s-session_lost,.s-failed{background:#3d1418;
color:var(--red)}.s-stalled,.s-paused,.s-standby,.s-starting,.s-backoff{background:#3a2d0c;
color:var(--amber)}.s-stopped{background:#222a33;color:var(--muted)}
section{margin:22px 0}h2{font-size:15px;margin:0 0 8px}pre{background:var(--panel);
border:1px solid var(--line);border-radius:8px;padding:10px;max-height:320px;overflow:auto;
font-size:12px}.controls{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
button{background:#21262d;color:var(--text);border:1px solid var(--line);border-radius:6px;
padding:6px 14px;cursor:pointer}button:hover{border-color:var(--blue)}input{background:var(--bg);
color:var(--text);border:1px solid var(--line);border-radius:6px;padding:6px 8px}
#result{color:var(--muted)}svg{background:var(--panel);border:1px solid var(--line);border-radius:8px}
"""

# the strategies table refreshes itself from a server-rendered fragment: no framework
INDEX_SCRIPT = """
async function refresh(){try{const r=await fetch('/ui/strategies.html',{cache:'no-store'});
if(r.ok){document.getElementById('live').innerHTML=await r.text();}}catch(e){}}
setInterval(refresh,2000);
"""

# control buttons: the operator token stays in this tab's sessionStorage, sent as a bearer token
CONTROL_SCRIPT = """
const box=document.getElementById('token');box.value=sessionStorage.getItem('kite-operator')||'';
async function act(name,action){sessionStorage.setItem('kite-operator',box.value);
const r=await fetch('/strategies/'+encodeURIComponent(name)+'/'+action,{method:'POST',
headers:{'Authorization':'Bearer '+box.value}});let body={};try{body=await r.json();}catch(e){}
document.getElementById('result').textContent=action+': '+r.status+' '+(body.result||body.detail||'');}
setTimeout(()=>{if(!document.activeElement||document.activeElement.id!=='token')location.reload();},5000);
"""


def _money_cell(value: float | None) -> str:
    if value is None:
        return '<td class="n muted">-</td>'
    css = "pos" if value > 0 else "neg" if value < 0 else ""
    return f'<td class="n {css}">{value:,.2f}</td>'


def _text(value: Any) -> str:
    return f"<td>{escape(str(value if value is not None else ''))}</td>"


def _num(value: Any, places: int = 2) -> str:
    if value is None:
        return '<td class="n muted">-</td>'
    return f'<td class="n">{float(value):,.{places}f}</td>'


def _age(now: float, then: float | None) -> str:
    if then is None:
        return "-"
    seconds = max(0.0, now - then)
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _badge(state: str) -> str:
    return f'<span class="badge s-{escape(state)}">{escape(state)}</span>'


def _page(title: str, body: str, script: str = "") -> str:
    tail = f"<script>{script}</script>" if script else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>kite-supervisor</h1><a href="/ui">strategies</a>'
        f'<a href="/status">/status</a><a href="/metrics">/metrics</a></header>'
        f"<main>{body}</main>{tail}</body></html>"
    )


def _cards(pairs: Sequence[tuple[str, str]]) -> str:
    """A row of labelled figures (labels are ours; values are escaped or formatted numbers)."""
    body = "".join(
        f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div></div>' for k, v in pairs
    )
    return f'<div class="cards">{body}</div>'


def _summary(strategies: Sequence[Mapping[str, Any]]) -> str:
    states = [s.get("state", "") for s in strategies]
    net = sum((s.get("money") or {}).get("net_pnl") or 0.0 for s in strategies)
    cards = [
        ("strategies", str(len(states))),
        ("running", str(states.count("running"))),
        ("need attention", str(sum(st in ATTENTION for st in states))),
        ("net P&L (INR)", f"{net:,.2f}"),
    ]
    return _cards(cards)


def strategies_table(status: Mapping[str, Any], now: float) -> str:
    """The live part of the index: summary cards and one row per strategy."""
    strategies: Sequence[Mapping[str, Any]] = status.get("strategies") or []
    rows = []
    for s in strategies:
        money = s.get("money") or {}
        last = money.get("last_order") or {}
        last_order = (
            f"{escape(last.get('side', ''))} {last.get('quantity', '')} {escape(last.get('symbol', ''))} "
            f"<span class='muted'>{escape(last.get('status', ''))}</span>"
            if last
            else '<span class="muted">-</span>'
        )
        name = escape(s.get("name", ""))
        rows.append(
            f'<tr><td><a href="/ui/strategies/{name}">{name}</a></td><td>{_badge(s.get("state", ""))}</td>'
            f'<td class="muted">{escape(s.get("plugin", ""))}</td>'
            f"<td>{escape(str(s.get('mode') or '-'))}</td>"
            f"{_money_cell(money.get('net_pnl'))}"
            f'<td class="n">{money.get("open_positions", "-")}</td><td>{last_order}</td>'
            f'<td class="n">{_age(now, s.get("last_heartbeat_unix"))}</td>'
            f"{_num(s.get('progress_age_s'), 1)}"
            f'<td class="n">{s.get("restarts", 0)}</td></tr>'
        )
    head = (
        "<tr><th>strategy</th><th>state</th><th>plugin</th><th>mode</th><th>net P&amp;L</th>"
        "<th>open positions</th><th>last order</th><th>heartbeat age</th><th>progress age (s)</th>"
        "<th>restarts</th></tr>"
    )
    table = f"<table id='strategies'>{head}{''.join(rows)}</table>"
    return _summary(strategies) + table


def index_page(status: Mapping[str, Any], now: float) -> str:
    body = f'<div id="live">{strategies_table(status, now)}</div>'
    return _page("kite-supervisor", body, INDEX_SCRIPT)


def pnl_svg(history: Sequence[tuple[float, float]], width: int = 900, height: int = 220) -> str:
    """The net P&L curve as an inline SVG (a zero line, the curve, min/max labels)."""
    if len(history) < 2:
        return (
            f'<svg width="{width}" height="{height}" role="img" aria-label="no P&amp;L yet">'
            f'<text x="20" y="{height // 2}" fill="#8a96a3">no P&amp;L readings yet</text></svg>'
        )
    times = [t for t, _ in history]
    values = [v for _, v in history]
    low, high = min([*values, 0.0]), max([*values, 0.0])
    span_t = (times[-1] - times[0]) or 1.0
    span_v = (high - low) or 1.0
    pad = 30

    def x(t: float) -> float:
        return pad + (t - times[0]) / span_t * (width - 2 * pad)

    def y(v: float) -> float:
        return height - pad - (v - low) / span_v * (height - 2 * pad)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in history)
    color = "#3fb950" if values[-1] >= 0 else "#f85149"
    return (
        f'<svg width="{width}" height="{height}" role="img" aria-label="net P&amp;L curve">'
        f'<line x1="{pad}" x2="{width - pad}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#273039"/>'
        f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>'
        f'<text x="4" y="{pad - 10}" fill="#8a96a3" font-size="11">max {high:,.2f}</text>'
        f'<text x="4" y="{height - 8}" fill="#8a96a3" font-size="11">min {low:,.2f}</text>'
        f'<text x="{width - pad}" y="{y(values[-1]) - 6:.1f}" fill="{color}" font-size="12" '
        f'text-anchor="end">{values[-1]:,.2f}</text></svg>'
    )


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def strategy_page(
    entry: Mapping[str, Any],
    *,
    history: Sequence[tuple[float, float]],
    orders: Sequence[Mapping[str, Any]],
    logs: Sequence[str],
    now: float,
) -> str:
    """One strategy: state, money, P&L curve, positions, orders and fills, log tail, controls."""
    name = str(entry.get("name", ""))
    money = entry.get("money") or {}
    facts = [
        ("state", _badge(entry.get("state", ""))),
        ("run", escape(str(entry.get("run_id") or "-"))),
        ("net P&L (INR)", f"{(money.get('net_pnl') or 0.0):,.2f}"),
        ("realized", f"{(money.get('realized_pnl') or 0.0):,.2f}"),
        ("charges", f"{(money.get('charges') or 0.0):,.2f}"),
        ("restarts", str(entry.get("restarts", 0))),
        ("heartbeat age", _age(now, entry.get("last_heartbeat_unix"))),
    ]
    cards = _cards(facts)
    reason = entry.get("reason") or entry.get("last_error")
    note = f'<p class="muted">{escape(str(reason))}</p>' if reason else ""
    error = money.get("error")
    stale = f'<p class="neg">last P&amp;L read failed: {escape(str(error))}</p>' if error else ""
    controls = (
        '<div class="controls"><input id="token" type="password" placeholder="operator token" '
        'autocomplete="off">'
        + "".join(
            f"<button onclick=\"act('{escape(name)}','{action}')\">{action}</button>"
            for action in ("pause", "resume", "restart", "stop")
        )
        + '<span id="result"></span></div>'
    )
    positions = [
        [_text(p.get("symbol")), _num(p.get("net_quantity"), 0), _num(p.get("average_price")),
         _num(p.get("last_price")), _money_cell(p.get("unrealized_pnl")), _money_cell(p.get("net_pnl"))]
        for p in money.get("positions") or []
    ]  # fmt: skip
    newest_first = list(reversed(orders))
    order_rows = [
        [_text(o.get("at")), _text(o.get("side")), _num(o.get("quantity"), 0), _text(o.get("symbol")),
         _text(o.get("status")), _num(o.get("average_price"))]
        for o in newest_first
    ]  # fmt: skip
    fills = [row for row, o in zip(order_rows, newest_first, strict=True) if o.get("filled")]
    position_head = ["symbol", "net qty", "avg price", "last", "unrealized", "net"]
    order_head = ["at", "side", "qty", "symbol", "status", "avg price"]
    body = (
        f"<h2>{escape(name)} <span class='muted'>{escape(str(entry.get('plugin', '')))}</span></h2>"
        f"{cards}{note}{stale}<section>{controls}</section>"
        f"<section><h2>Net P&amp;L</h2>{pnl_svg(history)}</section>"
        f"<section><h2>Positions</h2>"
        f"{_table(position_head, positions, 'no positions')}"
        f"</section><section><h2>Trades</h2>{_table(order_head, fills, 'no fills yet')}</section>"
        f"<section><h2>Orders</h2>{_table(order_head, order_rows, 'no orders yet')}"
        f"</section><section><h2>Log</h2><pre>{escape(chr(10).join(logs[-100:])) or 'no log lines'}"
        f"</pre></section>"
    )
    return _page(f"{name} - kite-supervisor", body, CONTROL_SCRIPT)
