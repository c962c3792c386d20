"""The viewer's local HTTP server (standard library only): static page + JSON endpoints over a :class:`RunIndex`,
and the run's video files with byte ranges so the browser can seek to a moment.

    GET /                      the page (static/index.html; assets from static/, nothing from a CDN)
    GET /api/summary           kind, split, metrics, number of queries
    GET /api/queries?text=&status=&sort=&page=&per_page=   a page of the query list
    GET /api/query/<id>?k=10   one query: ground truth, top-k moments (QA: answers), videos with subtitles
    GET /api/search?q=…&k=10   free-text search over the corpus (only with a searcher)
    GET /video/<name>          a file of --videos DIR (Range requests answered)
"""
from __future__ import annotations

import json
import mimetypes
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from viewer.run_index import RunIndex

STATIC = Path(__file__).resolve().parent / "static"
VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi")


class ViewerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], index: RunIndex | None, videos: Path | None = None,
                 search: Callable[[str, int], dict[str, Any]] | None = None) -> None:
        super().__init__(address, ViewerHandler)
        self.index, self.videos, self.search = index, videos, search

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, daemon=True)
        thread.start()
        return thread

    def video_file(self, vid: str) -> Path | None:
        if self.videos is None:
            return None
        for suffix in VIDEO_SUFFIXES:
            path = self.videos / f"{vid}{suffix}"
            if path.is_file():
                return path
        return None


class ViewerHandler(BaseHTTPRequestHandler):
    server: ViewerServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (quiet: one line per request is noise)
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = unquote(url.path)
        try:
            if path in ("/", "/index.html"):
                return self._file(STATIC / "index.html")
            if path.startswith("/static/"):
                name = path[len("/static/"):]
                if "/" in name or name.startswith("."):
                    return self._error(HTTPStatus.NOT_FOUND, "no such asset")
                return self._file(STATIC / name)
            if path == "/api/summary":
                return self._json(self._summary())
            if path == "/api/queries":
                self._need_index()
                return self._json(self.server.index.list_queries(
                    params.get("text", ""), params.get("status", "all"), params.get("sort", "id"),
                    int(params.get("page", 1)), min(int(params.get("per_page", 50)), 500)))
            if path.startswith("/api/query/"):
                self._need_index()
                detail = self.server.index.query(path[len("/api/query/"):], int(params.get("k", 10)))
                return self._json(self._with_video_urls(detail))
            if path == "/api/search":
                if self.server.search is None:
                    return self._error(HTTPStatus.NOT_FOUND, "search needs --checkpoint and --corpus")
                query = params.get("q", "").strip()
                if not query:
                    return self._error(HTTPStatus.BAD_REQUEST, "empty query")
                return self._json(self._with_video_urls(self.server.search(query, int(params.get("k", 10)))))
            if path.startswith("/video/"):
                return self._video(path[len("/video/"):])
            return self._error(HTTPStatus.NOT_FOUND, f"no page {path}")
        except KeyError as error:
            return self._error(HTTPStatus.NOT_FOUND, f"no query {error}")
        except ValueError as error:
            return self._error(HTTPStatus.BAD_REQUEST, str(error))

    # ------------------------------------------------------------------------------------ pieces
    def _need_index(self) -> None:
        if self.server.index is None:
            raise KeyError("(no run loaded: start with RUN_DIR)")

    def _summary(self) -> dict[str, Any]:
        index = self.server.index
        base = {"search": self.server.search is not None, "videos": self.server.videos is not None}
        if index is None:
            return {**base, "kind": None}
        return {**base, "kind": index.kind, "split": index.split, "folder": str(index.folder),
                "metrics": index.metrics, "num_queries": len(index.rows)}

    def _with_video_urls(self, detail: dict[str, Any]) -> dict[str, Any]:
        for vid, video in detail.get("videos", {}).items():
            video["url"] = f"/video/{vid}" if self.server.video_file(vid) is not None else None
        return detail

    def _json(self, data: Any, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(data).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        self._json({"error": message}, status)

    def _file(self, path: Path) -> None:
        if not path.is_file():
            return self._error(HTTPStatus.NOT_FOUND, "no such asset")
        body = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _video(self, vid: str) -> None:
        path = self.server.video_file(vid) if "/" not in vid else None
        if path is None:
            return self._error(HTTPStatus.NOT_FOUND, f"no video file for {vid}")
        size = path.stat().st_size
        start, end = 0, size - 1
        ranged = self.headers.get("Range", "").startswith("bytes=")
        if ranged:
            first, _, last = self.headers["Range"][len("bytes="):].partition("-")
            start = int(first) if first else max(size - int(last), 0)
            end = min(int(last), size - 1) if first and last else size - 1
            if start >= size or start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(HTTPStatus.PARTIAL_CONTENT if ranged else HTTPStatus.OK)
        self.send_header("Content-Type", mimetypes.guess_type(path.name)[0] or "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if ranged:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = f.read(min(1 << 20, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)
