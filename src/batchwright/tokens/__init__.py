"""Token estimation: offline tiktoken vocabularies, request input tokens, output-token predictions."""

from batchwright.tokens.estimate import (
    DEFAULT_COMPLETION_RATIO,
    DEFAULT_MAX_OUTPUT_TOKENS,
    count_input_tokens,
    endpoint_of,
    max_output_tokens,
    output_token_limit,
    predict_output_tokens,
)
from batchwright.tokens.images import DataUrlImageSizes, FetchingImageSizes, ImageSizes
from batchwright.tokens.models import encoding_name_for_model, model_profile
from batchwright.tokens.vocab import get_encoding

__all__ = [
    "DEFAULT_COMPLETION_RATIO",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "DataUrlImageSizes",
    "FetchingImageSizes",
    "ImageSizes",
    "count_input_tokens",
    "encoding_name_for_model",
    "endpoint_of",
    "get_encoding",
    "max_output_tokens",
    "model_profile",
    "output_token_limit",
    "predict_output_tokens",
]
