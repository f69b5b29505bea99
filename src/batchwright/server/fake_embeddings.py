"""Fake embeddings: unit-norm float32 vectors, a pure function of (model, dimensions, input, seed).

The same text always gets the same vector, whatever else is in the request, so similarity code can be
exercised. Vectors are float32 (as the API's are): the ``float`` and ``base64`` encodings carry the same
numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import operator
import random
import sys
from array import array
from typing import Any

from batchwright.server.models import embedding_dimensions


def embeddings_body(body: dict[str, Any], seed: int, prompt_tokens: int) -> dict[str, Any]:
    """The ``CreateEmbeddingResponse`` body for a validated embeddings request."""
    model = body["model"]
    dimensions = body.get("dimensions") or embedding_dimensions(model)
    inputs = body["input"]
    if isinstance(inputs, str) or (isinstance(inputs, list) and isinstance(inputs[0], int)):
        inputs = [inputs]
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = _vector(model, dimensions, item, seed)
        if as_base64:
            if sys.byteorder == "big":  # the API's base64 is little-endian float32
                vector.byteswap()
            encoded: Any = base64.b64encode(vector.tobytes()).decode()
        else:
            encoded = vector.tolist()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return {"object": "list", "data": data, "model": model, "usage": usage}


def _vector(model: str, dimensions: int, item: Any, seed: int) -> array:
    """A unit-norm float32 vector drawn from a hash of (model, dimensions, input, seed)."""
    key = json.dumps([model, dimensions, item, seed], ensure_ascii=False).encode()
    rng = random.Random(hashlib.blake2b(key, digest_size=16).digest())
    raw = array("h", rng.randbytes(2 * dimensions))
    scale = 1.0 / (math.sqrt(sum(map(operator.mul, raw, raw))) or 1.0)
    return array("f", [x * scale for x in raw])
