"""Compatibility: ``realtime.bust`` moved to ``realtime.printing.bust``; this keeps the bust stage's public API (``make_bust``, ``BustOptions``...) as it was first published."""

from realtime.printing.bust import *  # noqa: F401,F403
