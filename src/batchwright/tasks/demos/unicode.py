"""The ``unicode`` demo: structured information about ~1,000 Unicode characters.

Each item is one character; the model answers with a :class:`CharacterInfo`. An answer that gets the
character's basic nature wrong (``is_letter`` disagrees with the Unicode database) is rejected as a
retryable task error, so the demo shows retries and, when every attempt is wrong, failed items.
The check is one a real model passes almost always and the local fake model (random but
schema-valid answers) passes about half the time, which makes the demo exercise every path.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batchwright.tasks.api import Item, Result, Row, Task, TaskError, TaskMeta

#: Unicode blocks the demo covers (first, last code point): ~1,000 printable characters.
BLOCKS: tuple[tuple[str, int, int], ...] = (
    ("Basic Latin", 0x0021, 0x007E),
    ("Latin-1 Supplement", 0x00A1, 0x00FF),
    ("Latin Extended-A", 0x0100, 0x017F),
    ("Greek and Coptic", 0x0370, 0x03FF),
    ("Cyrillic", 0x0400, 0x04FF),
    ("Arrows", 0x2190, 0x21FF),
    ("Mathematical Operators", 0x2200, 0x22FF),
)

Category = Literal["letter", "mark", "number", "punctuation", "symbol", "separator", "other"]

_CATEGORY = {
    "L": "letter",
    "M": "mark",
    "N": "number",
    "P": "punctuation",
    "S": "symbol",
    "Z": "separator",
    "C": "other",
}


class CharacterInfo(BaseModel):
    """What the model is asked to say about one character (strict structured output)."""

    model_config = ConfigDict(extra="forbid")

    character: str = Field(description="The character itself.")
    name: str = Field(description="Its official Unicode name.")
    category: Category = Field(description="Its general category.")
    is_letter: bool = Field(description="Whether it is a letter of some alphabet or script.")
    description: str = Field(description="One sentence on what it is and where it is used.")
    sample_sentence: str = Field(description="A short sentence using the character.")


def characters() -> Iterator[tuple[str, str]]:
    """Every demo character with its block name, in code point order."""
    for block, first, last in BLOCKS:
        for code in range(first, last + 1):
            char = chr(code)
            if unicodedata.category(char) != "Cn" and char.isprintable() and not char.isspace():
                yield char, block


class UnicodeTask(Task):
    """Ask for structured information about each character; reject answers with the wrong nature."""

    name = "unicode"
    default_meta = TaskMeta(
        model="gpt-4o-mini", temperature=0.2, max_completion_tokens=200, completion_ratio=0.35
    )
    response_model = CharacterInfo

    def items(self) -> Iterator[Item]:
        for char, block in characters():
            yield Item(key=f"U+{ord(char):04X}", data={"char": char, "block": block})

    def request(self, item: Item) -> dict[str, Any]:
        return {
            "messages": [
                {"role": "system", "content": "Given a Unicode character, provide information about it."},
                {"role": "user", "content": f"Character: {item.data['char']}"},
            ]
        }

    def process(self, item: Item, result: Result) -> Row:
        info = result.parsed
        assert isinstance(info, CharacterInfo)
        char = item.data["char"]
        is_letter = unicodedata.category(char).startswith("L")
        if info.is_letter != is_letter:
            raise TaskError(
                f"the model says {char!r} is {'' if info.is_letter else 'not '}a letter, "
                f"but it is {'' if is_letter else 'not '}one"
            )
        return {**self._known(item), **info.model_dump()}

    def failed(self, item: Item, error: str) -> Row:
        """Failed characters still get a row (with the last error), so every item has one."""
        return {**self._known(item), "error": error}

    @staticmethod
    def _known(item: Item) -> Row:
        char = item.data["char"]
        return {
            "char": char,
            "block": item.data["block"],
            "unicode_name": unicodedata.name(char, ""),
            "unicode_category": _CATEGORY[unicodedata.category(char)[0]],
        }
