"""The compose stack's webhook receiver for Alertmanager: one JSON line per alert on stdout.

Standard library only (it runs in the daemon's image): ``python alert_log.py [PORT]``, port 9095
by default. Every POST body is Alertmanager's webhook document (version 4); each alert in it is
printed as ``{"status", "alertname", "severity", "strategy", "summary", "startsAt"}``.
"""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any


def lines(document: dict[str, Any]) -> list[str]:
    """The JSON lines for one webhook document."""
    out = []
    for alert in document.get("alerts") or []:
        labels, notes = alert.get("labels") or {}, alert.get("annotations") or {}
        out.append(
            json.dumps(
                {
                    "status": alert.get("status"),
                    "alertname": labels.get("alertname"),
                    "severity": labels.get("severity"),
                    "strategy": labels.get("strategy"),
                    "summary": notes.get("summary") or notes.get("description"),
                    "startsAt": alert.get("startsAt"),
                }
            )
        )
    return out


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # the stdlib calls it by this name
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        try:
            for line in lines(json.loads(body)):
                print(line, flush=True)
        except (ValueError, AttributeError):
            self.send_response(400)
        else:
            self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the alerts are the log


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9095
    HTTPServer(("0.0.0.0", port), _Handler).serve_forever()


if __name__ == "__main__":
    main()
