"""Strings that match a regular expression, for JSON Schema ``pattern`` keywords.

The pattern is parsed once with Python's own regex parser; generation walks the parse tree (literals,
classes, categories, alternation, groups, repeats capped at three extra rounds, anchors). Constructs that
cannot be generated directly (backreferences, lookarounds) are skipped and the result is checked: a few
attempts are made, the last one is returned even if it does not match.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable
from typing import Any

try:  # Python >= 3.11
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

_PRINTABLE = string.ascii_letters + string.digits + " -_.,:;@/#+"
_CATEGORIES = {
    sre_constants.CATEGORY_DIGIT: string.digits,
    sre_constants.CATEGORY_NOT_DIGIT: string.ascii_letters + " -_",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: string.ascii_letters + string.digits,
    sre_constants.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    sre_constants.CATEGORY_NOT_WORD: " -.,:;@/#+",
}


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


_CATEGORY_TESTS: dict[Any, Callable[[str], bool]] = {
    sre_constants.CATEGORY_DIGIT: str.isdigit,
    sre_constants.CATEGORY_NOT_DIGIT: lambda c: not c.isdigit(),
    sre_constants.CATEGORY_SPACE: str.isspace,
    sre_constants.CATEGORY_NOT_SPACE: lambda c: not c.isspace(),
    sre_constants.CATEGORY_WORD: _word,
    sre_constants.CATEGORY_NOT_WORD: lambda c: not _word(c),
}
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
if hasattr(sre_constants, "POSSESSIVE_REPEAT"):
    _REPEATS.add(sre_constants.POSSESSIVE_REPEAT)
_ATTEMPTS = 5


def regex_generator(pattern: str) -> Callable[[random.Random], str]:
    """A function drawing strings that ``re.search(pattern, s)`` matches; ValueError for a bad pattern."""
    try:
        compiled = re.compile(pattern)
        parsed = sre_parse.parse(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a valid regular expression ({exc})") from exc

    def draw(rng: random.Random) -> str:
        text = ""
        for _ in range(_ATTEMPTS):
            out: list[str] = []
            _emit(list(parsed), rng, out)
            text = "".join(out)
            if compiled.search(text):
                break
        return text

    return draw


def _emit(items: list[tuple[Any, Any]], rng: random.Random, out: list[str]) -> None:
    for op, arg in items:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.NOT_LITERAL:
            out.append(rng.choice([c for c in _PRINTABLE if ord(c) != arg]))
        elif op is sre_constants.ANY:
            out.append(rng.choice(string.ascii_letters))
        elif op is sre_constants.IN:
            out.append(_class_char(arg, rng))
        elif op is sre_constants.BRANCH:
            _emit(list(rng.choice(arg[1])), rng, out)
        elif op is sre_constants.SUBPATTERN:
            _emit(list(arg[-1]), rng, out)
        elif op in _REPEATS:
            low, high, sub = arg
            count = rng.randint(low, min(high, low + 3))
            for _ in range(count):
                _emit(list(sub), rng, out)
        # AT (anchors), ASSERT, ASSERT_NOT, GROUPREF: nothing to emit.


def _class_char(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    negate = bool(items) and items[0][0] is sre_constants.NEGATE
    members = items[1:] if negate else items
    if not negate:
        op, arg = members[rng.randrange(len(members))]
        if op is sre_constants.LITERAL:
            return chr(arg)
        if op is sre_constants.RANGE:
            return chr(rng.randint(arg[0], arg[1]))
        if op is sre_constants.CATEGORY:
            return rng.choice(_CATEGORIES.get(arg, string.ascii_letters))
    allowed = [c for c in _PRINTABLE if _in_class(c, members) != negate]
    return rng.choice(allowed or _PRINTABLE)


def _in_class(char: str, members: list[tuple[Any, Any]]) -> bool:
    code = ord(char)
    for op, arg in members:
        if op is sre_constants.LITERAL and code == arg:
            return True
        if op is sre_constants.RANGE and arg[0] <= code <= arg[1]:
            return True
        if op is sre_constants.CATEGORY and _CATEGORY_TESTS.get(arg, _word)(char):
            return True
    return False
