#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/integration/fakereg.py: a read-only fake registry with faults.

Serves one OCI image layout directory (index.json + blobs/sha256/*) over the
distribution API, for any repository name:

  GET/HEAD /v2/                         200, Docker-Distribution-API-Version
  GET/HEAD /v2/NAME/manifests/TAG       the index.json entry whose
                                        org.opencontainers.image.ref.name is TAG
  GET/HEAD /v2/NAME/manifests/DIGEST    any blob of the layout
  GET/HEAD /v2/NAME/blobs/DIGEST        any blob; Range: bytes=A- / bytes=A-B

Everything else is 405 (read-only) or 404 with a distribution-style JSON
error body (MANIFEST_UNKNOWN, BLOB_UNKNOWN).

Faults:
  --corrupt-blob DIGEST   serve bytes that do not match DIGEST (same length,
                          one byte flipped in the middle); repeatable
  --ratelimit SECONDS     every manifest request gets 429 TOOMANYREQUESTS
                          with Retry-After: SECONDS
  --drop-after BYTES      the first GET of each blob sends the full
                          Content-Length but only BYTES bytes, then closes
                          the connection; later GETs are served normally
                          (honouring Range)
  --slow BYTES_PER_SEC    blob bodies are sent at about that rate; SIGUSR1
                          switches throttling off (for a second, fast pull)
  --log FILE              one line per request, written (and flushed) when
                          the request is over:
                            METHOD PATH RANGE STATUS BYTES_SENT complete|cut
                          RANGE is the Range header or "-"; "cut" when the
                          body was not sent in full (dropped, or the client
                          went away)

Prints the port it listens on (127.0.0.1, --port 0 = a free one) on stdout,
then serves until killed.
"""

import argparse
import http.server
import json
import os
import re
import signal
import socket
import socketserver
import sys
import threading
import time

MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
PATH_RE = re.compile(r"^/v2/(?P<name>[a-z0-9]+(?:[._/-][a-z0-9]+)*)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")
CHUNK = 16384


class State:
    def __init__(self, args):
        self.layout = args.layout
        self.corrupt = set(args.corrupt_blob or [])
        self.ratelimit = args.ratelimit
        self.drop_after = args.drop_after
        self.slow = args.slow
        self.dropped = set()  # blobs whose first GET was already cut
        self.lock = threading.Lock()
        self.log = open(args.log, "a", buffering=1) if args.log else None
        with open(os.path.join(self.layout, "index.json"), "rb") as f:
            self.index = json.load(f)

    def tag(self, tag):
        for d in self.index.get("manifests", []):
            if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") == tag:
                return d
        return None

    def blob_path(self, digest):
        if not DIGEST_RE.match(digest):
            return None
        p = os.path.join(self.layout, "blobs", "sha256", digest[7:])
        return p if os.path.isfile(p) else None

    def write_log(self, line):
        if self.log:
            with self.lock:
                self.log.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakereg/1"

    def log_message(self, fmt, *args):  # no stderr noise
        pass

    # ---- helpers ---------------------------------------------------------

    def _done(self, status, sent, complete=True):
        st = self.server.state
        st.write_log("%s %s %s %d %d %s" % (self.command, self.path,
                                            self.headers.get("Range") or "-", status, sent,
                                            "complete" if complete else "cut"))

    def _error(self, status, code, message, extra_headers=()):
        body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in extra_headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            self.wfile.write(body)
            sent = len(body)
        self._done(status, sent)

    def _read_blob(self, digest, path):
        with open(path, "rb") as f:
            data = f.read()
        if digest in self.server.state.corrupt and data:
            b = bytearray(data)
            b[len(b) // 2] ^= 0xFF
            data = bytes(b)
        return data

    def _send_body(self, data, limit=None):
        """Sends data (throttled with --slow); returns (bytes sent, complete)."""
        st = self.server.state
        sent = 0
        total = len(data) if limit is None else min(limit, len(data))
        t0 = time.monotonic()
        try:
            while sent < total:
                n = min(CHUNK, total - sent)
                self.wfile.write(data[sent:sent + n])
                sent += n
                rate = st.slow
                if rate:
                    ahead = sent / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(min(ahead, 0.5))
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            self.close_connection = True
            return sent, False
        return sent, sent == len(data)

    # ---- methods ---------------------------------------------------------

    def do_HEAD(self):
        self._serve()

    def do_GET(self):
        self._serve()

    def _readonly(self):
        # swallow a request body so that the connection stays usable
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        self._error(405, "UNSUPPORTED", "this registry is read-only")

    do_POST = do_PUT = do_PATCH = do_DELETE = _readonly

    def _serve(self):
        path = self.path.split("?", 1)[0]
        if path in ("/v2", "/v2/"):
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)
            self._done(200, len(body) if self.command == "GET" else 0)
            return
        m = PATH_RE.match(path)
        if not m:
            self._error(404, "NAME_UNKNOWN", "no such endpoint")
            return
        kind, ref = m.group("kind"), m.group("ref")
        if kind == "manifests":
            self._manifest(ref)
        else:
            self._blob(ref)

    def _manifest(self, ref):
        st = self.server.state
        if st.ratelimit is not None:
            self._error(429, "TOOMANYREQUESTS", "you have reached your pull rate limit",
                        [("Retry-After", str(st.ratelimit))])
            return
        if DIGEST_RE.match(ref):
            digest = ref
            mt = None
        else:
            d = st.tag(ref)
            if d is None:
                self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
                return
            digest, mt = d["digest"], d.get("mediaType")
        path = st.blob_path(digest)
        if path is None:
            self._error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return
        data = self._read_blob(digest, path)
        if mt is None:
            try:
                mt = json.loads(data).get("mediaType")
            except ValueError:
                mt = None
        self.send_response(200)
        self.send_header("Content-Type", mt or MT_MANIFEST)
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            self._done(200, 0)
            return
        sent, complete = self._send_body(data)
        self._done(200, sent, complete)

    def _blob(self, digest):
        st = self.server.state
        path = st.blob_path(digest)
        if path is None:
            self._error(404, "BLOB_UNKNOWN", "blob unknown to registry")
            return
        data = self._read_blob(digest, path)
        size = len(data)
        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng:
            mr = re.match(r"^bytes=(\d+)-(\d*)$", rng.strip())
            if not mr:
                self._error(416, "RANGE_INVALID", "bad Range header")
                return
            start = int(mr.group(1))
            if mr.group(2):
                end = min(int(mr.group(2)), size - 1)
            if start >= size or start > end:
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self._done(416, 0)
                return
            status = 206
        body = data[start:end + 1]
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Docker-Content-Digest", digest)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if self.command == "HEAD":
            self._done(status, 0)
            return
        limit = None
        if st.drop_after is not None:
            with st.lock:
                if digest not in st.dropped:
                    st.dropped.add(digest)
                    limit = st.drop_after
        if limit is not None and limit < len(body):
            sent, _ = self._send_body(body, limit)
            self.close_connection = True
            try:
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._done(status, sent, False)
            return
        sent, complete = self._send_body(body)
        self._done(status, sent, complete)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("layout", help="OCI image layout directory")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--corrupt-blob", action="append", metavar="DIGEST")
    ap.add_argument("--ratelimit", type=int, metavar="SECONDS")
    ap.add_argument("--drop-after", type=int, metavar="BYTES")
    ap.add_argument("--slow", type=int, metavar="BYTES_PER_SEC")
    ap.add_argument("--log", metavar="FILE")
    args = ap.parse_args()
    st = State(args)

    def fast(signum, frame):
        st.slow = None

    signal.signal(signal.SIGUSR1, fast)
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = st
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
