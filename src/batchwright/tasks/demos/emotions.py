"""The ``emotions`` demo: classify 45 utterances into emotions, several opinions each.

Every utterance is asked ``min_opinions`` times; more answers are requested only while a confident
majority is still reachable (up to ``max_opinions``). Clear answers weigh 1.0, unclear ones 0.5. The
output row of an utterance carries the weighted shares of every emotion seen, the majority emotion
(or null when there is no confident majority) and whether the majority is confident.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batchwright.tasks.api import Item, OpinionTask, Result, Row, TaskMeta
from batchwright.tasks.opinions import Opinion, OpinionVerdict

Emotion = Literal["anger", "disgust", "sadness", "joy", "neutral", "surprise", "fear"]


class UtteranceEmotion(BaseModel):
    """One opinion on an utterance (strict structured output)."""

    model_config = ConfigDict(extra="forbid")

    emotion: Emotion = Field(description="The emotion the speaker expresses.")
    is_clear: bool = Field(description="Whether that emotion is clearly expressed.")


def utterances() -> Iterator[str]:
    """The demo's utterances, in file order."""
    text = resources.files("batchwright.tasks.demos").joinpath("utterances.txt").read_text("utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.strip()


class EmotionsTask(OpinionTask):
    """Classify each utterance by a confident majority of several opinions."""

    name = "emotions"
    default_meta = TaskMeta(
        model="gpt-4o-mini",
        temperature=0.8,
        max_completion_tokens=32,
        completion_ratio=0.6,
        min_opinions=3,
        max_opinions=5,
        confidence=0.78,
    )
    response_model = UtteranceEmotion

    def items(self) -> Iterator[Item]:
        for index, text in enumerate(utterances()):
            yield Item(key=f"utt-{index:02d}", data=text)

    def request(self, item: Item) -> dict[str, Any]:
        return {
            "messages": [
                {
                    "role": "system",
                    "content": "Classify the emotion the speaker of the utterance expresses "
                    "(anger, disgust, sadness, joy, neutral, surprise or fear).",
                },
                {"role": "user", "content": f"UTTERANCE:\n{item.data}"},
            ]
        }

    def opinion(self, item: Item, result: Result) -> Opinion:
        answer = result.parsed
        assert isinstance(answer, UtteranceEmotion)
        return Opinion(answer.emotion, 1.0 if answer.is_clear else 0.5)

    def failed(self, item: Item, error: str) -> Row:
        """An utterance whose every request failed still gets a row, with the last error."""
        return {"utterance": item.data, "emotion": None, "opinions": 0, "error": error}

    def conclude(self, item: Item, verdict: OpinionVerdict) -> Row:
        return {
            "utterance": item.data,
            "emotion": verdict.value if verdict.confident else None,
            "majority": verdict.value,
            "confidence": round(verdict.confidence, 4),
            "confident": verdict.confident,
            "emotions": {str(value): round(share, 4) for value, share in verdict.shares.items()},
            "opinions": verdict.opinions,
        }
