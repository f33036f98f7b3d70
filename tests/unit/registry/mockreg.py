#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small OCI distribution registry for the registry client's unit tests.

Prints "PORT REDIRECT_PORT" on stdout once it listens and exits when its
stdin closes (so that a crashed test does not leave it behind).

  --auth none|basic|bearer   what /v2/* requires (bearer: tokens from /token
                             on the same server, given for --user/--password,
                             or for --refresh-token posted as an OAuth2
                             refresh_token; anonymous tokens grant nothing)
  --tls CERT KEY             HTTPS instead of HTTP

Fault switches: POST /_control with a JSON object of
  corrupt: [digest]          serve these blobs/manifests with a flipped byte
  extra: [digest]            serve these blobs with bytes appended
  drop: {digest: N}          the next GET of the blob stops after N bytes
  ignore_range: bool         answer Range requests with the whole blob (200)
  ratelimit: N, retry_after: S   the next N requests get 429
  fail: N                    the next N requests get 503
  redirect: bool             blob GETs redirect to the second port
  bad_manifest_digest: bool  manifests come with a wrong Docker-Content-Digest
  bad_echo: bool             blob PUTs echo a wrong Docker-Content-Digest
  absolute_location: bool    upload Locations are absolute URLs
  revoke_tokens: bool        forget every token issued so far
  clear_log: bool
GET /_log returns the requests seen (method, path, query, headers of
interest, which port) as a JSON list.
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import socket
import ssl
import sys
import threading
import urllib.parse

LOCK = threading.Lock()
MANIFESTS = {}  # repo -> ref -> (media type, body)
BLOBS = {}  # digest -> bytes
REPO_BLOBS = {}  # repo -> set of digests
UPLOADS = {}  # uuid -> {"repo", "data"}
TOKENS = {}  # token -> set of granted scope strings ("repository:r:pull")
LOG = []
FAULTS = {"corrupt": [], "extra": [], "drop": {}, "ratelimit": 0, "retry_after": 0,
          "fail": 0}
ARGS = None
REDIRECT_PORT = 0

UPLOAD_RE = re.compile(r"^/v2/(?P<name>.+?)/blobs/uploads/(?P<uuid>[^/]*)$")
OBJECT_RE = re.compile(r"^/v2/(?P<name>.+?)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def errors_body(code, message):
    return json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    redirect_target = False

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write("mockreg: " + (fmt % args) + "\n")

    def handle(self):
        # A TLS ClientHello on the plain port: answer as Go's net/http does
        # instead of waiting for a line that never comes.
        if ARGS.tls:
            return super().handle()
        try:
            first = self.connection.recv(1, socket.MSG_PEEK)
        except OSError:
            return
        if first == b"\x16":
            self.connection.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n"
                                    b"Client sent an HTTP request to an HTTPS server.\n")
            return
        super().handle()

    # ---- plumbing ----------------------------------------------------------

    def reply(self, status, body=b"", headers=None, head=False):
        self.send_response(status)
        hdrs = dict(headers or {})
        if body and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        if "Content-Length" not in hdrs:
            hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            self.send_header(k, v)
        self.end_headers()
        if body and not head:
            self.wfile.write(body)

    def error(self, status, code, message, headers=None):
        self.reply(status, errors_body(code, message), headers, head=self.command == "HEAD")

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = bytearray()
        while len(data) < n:
            chunk = self.rfile.read(min(n - len(data), 1 << 20))
            if not chunk:
                break
            data += chunk
        return bytes(data)

    def base_url(self):
        return ("https" if ARGS.tls else "http") + "://" + self.headers.get("Host", "")

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        path, query = url.path, urllib.parse.parse_qs(url.query, keep_blank_values=True)
        body = self.read_body()
        if path == "/_control":
            return self.control(body)
        if path == "/_log":
            with LOCK:
                data = json.dumps(LOG).encode()
            return self.reply(200, data)
        with LOCK:
            LOG.append({
                "port": "redirect" if self.redirect_target else "main",
                "method": self.command, "path": path, "query": url.query,
                "auth": self.headers.get("Authorization") is not None,
                "range": self.headers.get("Range"),
                "content_range": self.headers.get("Content-Range"),
                "content_type": self.headers.get("Content-Type"),
                "accept": self.headers.get("Accept"), "length": len(body),
            })
        if self.redirect_target:
            m = re.match(r"^/blobs/(sha256:[0-9a-f]{64})$", path)
            return self.serve_blob(m.group(1)) if m else self.error(404, "NOT_FOUND", "nothing")
        if path == "/token":
            return self.token(query, body)
        with LOCK:
            if FAULTS["ratelimit"] > 0:
                FAULTS["ratelimit"] -= 1
                return self.error(429, "TOOMANYREQUESTS", "slow down",
                                  {"Retry-After": str(FAULTS["retry_after"])})
            if FAULTS["fail"] > 0:
                FAULTS["fail"] -= 1
                return self.error(503, "UNAVAILABLE", "try again")
        if not path.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "no such endpoint")
        if not self.authorized(path, query):
            return
        self.route(path, query, body)

    def control(self, body):
        req = json.loads(body or b"{}")
        with LOCK:
            if req.pop("clear_log", False):
                LOG.clear()
            if req.pop("revoke_tokens", False):
                TOKENS.clear()
            FAULTS.update(req)
        self.reply(200, b"{}")

    # ---- auth --------------------------------------------------------------

    def basic_ok(self):
        want = base64.b64encode(f"{ARGS.user}:{ARGS.password}".encode()).decode()
        return self.headers.get("Authorization", "") == "Basic " + want

    def token(self, query, body):
        if self.command == "POST":
            form = urllib.parse.parse_qs(body.decode())
            if (form.get("grant_type") != ["refresh_token"] or not ARGS.refresh_token
                    or form.get("refresh_token") != [ARGS.refresh_token]):
                return self.error(401, "UNAUTHORIZED", "bad refresh token")
            scopes = " ".join(form.get("scope", [])).split()
            field = "access_token"
        else:
            if self.headers.get("Authorization") and not self.basic_ok():
                return self.error(401, "UNAUTHORIZED", "bad credentials")
            scopes = query.get("scope", [])
            if not self.headers.get("Authorization"):
                scopes = []  # anonymous: nothing granted
            field = "token"
        granted = set()
        for s in scopes:
            parts = s.split(":")
            if len(parts) == 3:
                for action in parts[2].split(","):
                    granted.add(f"{parts[0]}:{parts[1]}:{action}")
        tok = secrets.token_hex(16)
        with LOCK:
            TOKENS[tok] = granted
        self.reply(200, json.dumps({field: tok, "expires_in": 300}).encode())

    def needed(self, path, query):
        """The scope a request needs, and what the challenge names."""
        m = UPLOAD_RE.match(path) or OBJECT_RE.match(path)
        if not m:
            return set(), None
        name = m.group("name")
        write = self.command in ("POST", "PUT", "PATCH", "DELETE")
        actions = ["pull", "push"] if write else ["pull"]
        return ({f"repository:{name}:{a}" for a in actions},
                f"repository:{name}:{','.join(actions)}")

    def authorized(self, path, query):
        if ARGS.auth == "none":
            return True
        if ARGS.auth == "basic":
            if self.basic_ok():
                return True
            self.error(401, "UNAUTHORIZED", "authentication required",
                       {"WWW-Authenticate": 'Basic realm="mockreg"'})
            return False
        need, scope = self.needed(path, query)
        h = self.headers.get("Authorization", "")
        with LOCK:
            granted = TOKENS.get(h[7:]) if h.startswith("Bearer ") else None
        if granted is not None and need <= granted:
            self.granted = granted
            return True
        challenge = f'Bearer realm="{self.base_url()}/token",service="mockreg"'
        if scope:
            challenge += f',scope="{scope}"'
        if granted is not None:
            challenge += ',error="insufficient_scope"'
        self.error(401, "UNAUTHORIZED", "authentication required",
                   {"WWW-Authenticate": challenge})
        return False

    def may_pull(self, repo):
        return ARGS.auth != "bearer" or f"repository:{repo}:pull" in self.granted

    # ---- the distribution API ------------------------------------------------

    def route(self, path, query, body):
        if path == "/v2/":
            return self.reply(200, b"{}")
        m = UPLOAD_RE.match(path)
        if m:
            return self.upload(m.group("name"), m.group("uuid"), query, body)
        m = OBJECT_RE.match(path)
        if not m:
            return self.error(404, "NAME_UNKNOWN", "no such repository")
        if m.group("kind") == "manifests":
            return self.manifest(m.group("name"), m.group("ref"), body)
        return self.blob(m.group("name"), m.group("ref"))

    def manifest(self, repo, ref, body):
        if self.command == "PUT":
            mt = self.headers.get("Content-Type", "")
            d = sha256(body)
            with LOCK:
                refs = MANIFESTS.setdefault(repo, {})
                refs[ref] = refs[d] = (mt, body)
            return self.reply(201, b"", {"Docker-Content-Digest": d,
                                         "Location": f"/v2/{repo}/manifests/{d}"})
        if ref == "huge":
            mt, data = "application/vnd.oci.image.manifest.v1+json", b" " * (5 << 20) + b"{}"
        else:
            with LOCK:
                found = MANIFESTS.get(repo, {}).get(ref)
            if not found:
                return self.error(404, "MANIFEST_UNKNOWN", f"manifest unknown: {ref}")
            mt, data = found
        d = sha256(data)
        if FAULTS.get("bad_manifest_digest"):
            d = sha256(data + b"x")
        if d in FAULTS["corrupt"] or ref in FAULTS["corrupt"]:
            data = bytes([data[0] ^ 1]) + data[1:]
        self.reply(200, data, {"Content-Type": mt, "Docker-Content-Digest": d},
                   head=self.command == "HEAD")

    def blob(self, repo, digest):
        with LOCK:
            present = digest in REPO_BLOBS.get(repo, set())
        if not present:
            return self.error(404, "BLOB_UNKNOWN", f"blob unknown: {digest}")
        if self.command == "GET" and FAULTS.get("redirect"):
            host = self.headers.get("Host", "127.0.0.1").rsplit(":", 1)[0]
            return self.reply(307, b"", {
                "Location": f"http://{host}:{REDIRECT_PORT}/blobs/{digest}"})
        self.serve_blob(digest)

    def serve_blob(self, digest):
        with LOCK:
            data = BLOBS.get(digest)
            drop = FAULTS["drop"].pop(digest, None) if self.command == "GET" else None
        if data is None:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        if digest in FAULTS["corrupt"]:
            data = bytes([data[0] ^ 0xff]) + data[1:]
        if digest in FAULTS["extra"]:
            data = data + b"surplus bytes"
        status, headers, start = 200, {}, 0
        rng = self.headers.get("Range")
        if rng and not FAULTS.get("ignore_range"):
            m = re.match(r"^bytes=(\d+)-$", rng)
            start = int(m.group(1)) if m else 0
            if start >= len(data):
                return self.error(416, "RANGE_INVALID", "range not satisfiable",
                                  {"Content-Range": f"bytes */{len(data)}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        headers.update({"Content-Type": "application/octet-stream",
                        "Docker-Content-Digest": digest,
                        "Content-Length": str(len(data) - start)})
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command == "HEAD":
            return
        view = memoryview(data)[start:]
        if drop is not None:
            self.wfile.write(view[:drop])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        for i in range(0, len(view), 1 << 20):
            self.wfile.write(view[i:i + (1 << 20)])

    def upload_location(self, repo, uuid):
        state = secrets.token_hex(4)
        loc = f"/v2/{repo}/blobs/uploads/{uuid}?_state={state}"
        if FAULTS.get("absolute_location"):
            loc = self.base_url() + loc
        return loc

    def upload(self, repo, uuid, query, body):
        if self.command == "POST":
            mount, source = query.get("mount", [None])[0], query.get("from", [None])[0]
            if mount and source:
                with LOCK:
                    ok = mount in REPO_BLOBS.get(source, set()) and self.may_pull(source)
                    if ok:
                        REPO_BLOBS.setdefault(repo, set()).add(mount)
                if ok:
                    return self.reply(201, b"", {"Docker-Content-Digest": mount,
                                                 "Location": f"/v2/{repo}/blobs/{mount}"})
            uuid = secrets.token_hex(8)
            with LOCK:
                UPLOADS[uuid] = {"repo": repo, "data": bytearray()}
            return self.reply(202, b"", {"Location": self.upload_location(repo, uuid),
                                         "Docker-Upload-UUID": uuid, "Range": "0-0"})
        with LOCK:
            up = UPLOADS.get(uuid)
        if not up or up["repo"] != repo:
            return self.error(404, "BLOB_UPLOAD_UNKNOWN", "upload unknown")
        if "_state" not in query:
            return self.error(400, "BLOB_UPLOAD_INVALID", "upload state lost")
        if self.command == "PATCH":
            cr = self.headers.get("Content-Range")
            if cr:
                m = re.match(r"^(\d+)-(\d+)$", cr)
                if not m or int(m.group(1)) != len(up["data"]) or \
                        int(m.group(2)) - int(m.group(1)) + 1 != len(body):
                    return self.error(416, "BLOB_UPLOAD_INVALID", "bad Content-Range")
            up["data"] += body
            return self.reply(202, b"", {"Location": self.upload_location(repo, uuid),
                                         "Range": f"0-{len(up['data']) - 1}"})
        if self.command == "PUT":
            up["data"] += body
            digest = query.get("digest", [""])[0]
            data = bytes(up["data"])
            if sha256(data) != digest:
                return self.error(400, "DIGEST_INVALID", "digest does not match")
            with LOCK:
                BLOBS[digest] = data
                REPO_BLOBS.setdefault(repo, set()).add(digest)
                UPLOADS.pop(uuid, None)
            echo = sha256(data + b"x") if FAULTS.get("bad_echo") else digest
            return self.reply(201, b"", {"Docker-Content-Digest": echo,
                                         "Location": f"/v2/{repo}/blobs/{digest}"})
        self.error(405, "UNSUPPORTED", "method not allowed")


class RedirectHandler(Handler):
    redirect_target = True


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that hang up (a refused body, a TLS rejection) are normal
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()


def main():
    global ARGS, REDIRECT_PORT
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--auth", choices=["none", "basic", "bearer"], default="none")
    p.add_argument("--user", default="user")
    p.add_argument("--password", default="password")
    p.add_argument("--refresh-token")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--verbose", action="store_true")
    ARGS = p.parse_args()

    main_srv = Server((ARGS.host, 0), Handler)
    if ARGS.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls[0], ARGS.tls[1])
        main_srv.socket = ctx.wrap_socket(main_srv.socket, server_side=True)
    redir_srv = Server((ARGS.host, 0), RedirectHandler)
    REDIRECT_PORT = redir_srv.server_address[1]
    serve(main_srv)
    serve(redir_srv)
    print(main_srv.server_address[1], REDIRECT_PORT, flush=True)
    sys.stdin.read()  # until the test goes away
    os._exit(0)


if __name__ == "__main__":
    main()
