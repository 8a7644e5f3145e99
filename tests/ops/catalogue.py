"""Metric names the catalogue defines, as Prometheus exposes them (for the deploy checks)."""

from __future__ import annotations

import re

from supervisor._metrics import CATALOGUE, PREFIX

PROCESS = {
    "process_cpu_seconds_total",
    "process_open_fds",
    "process_max_fds",
    "process_virtual_memory_bytes",
    "process_resident_memory_bytes",
    "process_start_time_seconds",
}
BUILTIN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def exposed_names() -> set[str]:
    names = set(PROCESS) | BUILTIN
    for name, kind, _, _ in CATALOGUE:
        full = f"{PREFIX}_{name}"
        if kind == "histogram":
            names |= {full + "_bucket", full + "_sum", full + "_count"}
        else:
            names.add(full)
    return names


_NAME = re.compile(r"\b(kite_supervisor_[a-z0-9_]+|process_[a-z0-9_]+)\b")


def referenced_names(expr: str) -> set[str]:
    return set(_NAME.findall(expr))
