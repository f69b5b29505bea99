"""Optional image fetching: real HTTP on 127.0.0.1, first bytes only, timeout, size cap, bounded cache."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from batchwright.cli import run_app
from batchwright.tokens import FetchingImageSizes, count_input_tokens

from .image_bytes import jpeg, png

RELEASE = threading.Event()


class ImageHandler(BaseHTTPRequestHandler):
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self):
        ImageHandler.hits[self.path] = ImageHandler.hits.get(self.path, 0) + 1
        if self.path == "/slow.png":
            RELEASE.wait(10)
        bodies = {
            "/cat.png": png(1024, 1024),
            "/slow.png": png(10, 10),
            "/huge.jpg": jpeg(10, 10, exif_bytes=400_000),
            "/text.txt": b"not an image at all",
        }
        body = bodies.get(self.path.split("?")[0])
        if body is None:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def base_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    RELEASE.set()
    server.shutdown()
    server.server_close()


def image_body(url: str) -> dict:
    image = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": [image]}]}


def test_fetched_size_gives_the_exact_tile_count_and_is_cached(base_url):
    sizes = FetchingImageSizes(timeout=5)
    url = f"{base_url}/cat.png"
    before = ImageHandler.hits.get("/cat.png", 0)
    assert count_input_tokens("/v1/chat/completions", image_body(url), image_sizes=sizes) == 7 + 765
    assert count_input_tokens("/v1/chat/completions", image_body(url), image_sizes=sizes) == 7 + 765
    assert ImageHandler.hits["/cat.png"] == before + 1
    # without fetching: the conservative maximum
    assert count_input_tokens("/v1/chat/completions", image_body(url)) == 7 + 85 + 8 * 170
    sizes.close()


def test_memory_cache_is_bounded(base_url):
    sizes = FetchingImageSizes(max_entries=2)
    for i in range(5):
        assert sizes.size_of(f"{base_url}/cat.png?v={i}") == (1024, 1024)
    assert len(sizes._memory) == 2
    sizes.close()


def test_disk_cache_survives_a_restart_and_is_private(base_url, tmp_path):
    path = tmp_path / "cache" / "image-sizes.sqlite"
    url = f"{base_url}/cat.png?disk"
    first = FetchingImageSizes(cache_path=path, max_entries=3)
    assert first.size_of(url) == (1024, 1024)
    for i in range(6):
        first.size_of(f"{base_url}/cat.png?fill={i}")
    first.close()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    second = FetchingImageSizes(cache_path=path, max_entries=3)
    hits = ImageHandler.hits.get("/cat.png", 0)
    assert second.size_of(f"{base_url}/cat.png?fill=5") == (1024, 1024)
    assert ImageHandler.hits.get("/cat.png", 0) == hits  # served from disk
    rows = second._db.execute("SELECT COUNT(*) FROM image_size").fetchone()[0]
    assert rows <= 3
    second.close()


@pytest.mark.parametrize("path", ["/missing.png", "/text.txt", "/huge.jpg"])
def test_failures_fall_back_to_unknown(base_url, path):
    sizes = FetchingImageSizes(max_bytes=64 * 1024)
    assert sizes.size_of(base_url + path) is None
    body = image_body(base_url + path)
    assert count_input_tokens("/v1/chat/completions", body, image_sizes=sizes) == 7 + 1445
    sizes.close()


def test_timeout_falls_back_to_unknown(base_url):
    sizes = FetchingImageSizes(timeout=0.3)
    assert sizes.size_of(f"{base_url}/slow.png") is None
    sizes.close()


def test_tokens_cli_fetches_images_only_when_asked(base_url, tmp_path, capsys):
    path = tmp_path / "images.jsonl"
    request = {"custom_id": "img", "method": "POST", "url": "/v1/chat/completions"}
    path.write_text(json.dumps({**request, "body": image_body(f"{base_url}/cat.png?cli")}) + "\n")
    assert run_app(["tokens", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["input_tokens"] == 7 + 1445
    assert run_app(["tokens", str(path), "--json", "--fetch-images"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["input_tokens"] == 7 + 765
