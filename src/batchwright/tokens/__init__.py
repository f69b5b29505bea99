"""Token estimation: offline tiktoken vocabularies and request token counting."""

from batchwright.tokens.vocab import get_encoding

__all__ = ["get_encoding"]
