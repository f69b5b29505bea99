"""Token estimation: offline tiktoken vocabularies and request token counting."""

from batchwright.tokens.estimate import count_input_tokens
from batchwright.tokens.vocab import get_encoding

__all__ = ["count_input_tokens", "get_encoding"]
