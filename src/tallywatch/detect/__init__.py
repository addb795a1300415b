"""Rules: from stored changes to ``Event``s, each with a stable key, a severity and a reason.

Each rule family is one module with one job: ``milestones``, ``spikes``, ``records``,
``approaching``, ``corrections`` (revisions, decreases, discarded values, wrong "(+N)"),
``disagreement``, ``stale``, and ``guard`` (plausibility); ``report`` makes the daily report once
a day's core figures are accepted (``ingest`` asks it once per batch). The rules are pure functions of the
values they are handed; ``engine.Detector`` keeps each metric's series in memory, decides which
figure is accepted, and asks the rules registered in ``engine.STEP_RULES`` about it.
"""

from .engine import STEP_RULES, Detector

__all__ = ["STEP_RULES", "Detector"]
