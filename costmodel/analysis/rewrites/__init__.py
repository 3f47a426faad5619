"""Lowering: rewrite the eager node table into the graph a runtime executes.

One small rule per module-level function (registered by name in :mod:`.registry`); each
runtime lists the rules it applies, in order, in :data:`RUNTIME_RULES`. Importing this package
registers every rule.
"""

from __future__ import annotations

from costmodel.analysis.capture import NodeRecord
from costmodel.analysis.rewrites import (  # noqa: F401  (registrations)
    cse,
    dead,
    delegate,
    free,
    functional,
    fuse,
    layout,
)
from costmodel.analysis.rewrites.registry import (
    FALLBACK_RUNTIMES,
    FX_ONLY_RULES,
    RULES,
    RUNTIME_RULES,
    RUNTIMES,
    check_runtime,
)


def lower(records: list[NodeRecord], runtime: str, skip: tuple[str, ...] = ()) -> list[str]:
    """Apply ``runtime``'s rules to ``records`` in place (except those in ``skip``); return one
    note per rule that changed something."""
    notes = []
    for name in RUNTIME_RULES[check_runtime(runtime)]:
        if name in skip:
            notes.append(f"{runtime}: rule {name} skipped (it needs the fx graph)")
            continue
        changed = RULES[name](records)
        if changed:
            notes.append(f"{runtime}: {name} changed {changed} node(s)")
    return notes


__all__ = [
    "FALLBACK_RUNTIMES",
    "FX_ONLY_RULES",
    "RULES",
    "RUNTIMES",
    "RUNTIME_RULES",
    "check_runtime",
    "lower",
]
