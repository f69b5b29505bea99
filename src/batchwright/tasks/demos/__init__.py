"""The demo tasks behind ``batchwright demo``: ``unicode`` and ``emotions``."""

from batchwright.tasks.demos.emotions import EmotionsTask
from batchwright.tasks.demos.unicode import UnicodeTask

#: Demo name -> task class.
DEMOS = {"unicode": UnicodeTask, "emotions": EmotionsTask}

__all__ = ["DEMOS", "EmotionsTask", "UnicodeTask"]
