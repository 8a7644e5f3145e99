"""The operator's web console: server-rendered pages over the daemon's own state.

No build step and nothing from a CDN: the HTML, the CSS and the few lines of script ship in
this package. Pages are rendered by pure functions (``_render``) from the ``/status`` document,
the money book and the log tail; ``console_routes`` mounts them on the daemon's HTTP server.
"""

from ._logtail import LogTail as LogTail
from ._render import index_page as index_page
from ._render import pnl_svg as pnl_svg
from ._render import strategies_table as strategies_table
from ._render import strategy_page as strategy_page

__all__ = ["LogTail", "index_page", "pnl_svg", "strategies_table", "strategy_page"]
