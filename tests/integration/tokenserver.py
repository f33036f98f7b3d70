#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/integration/tokenserver.py: a Docker registry token server.

The token service of the distribution token auth spec, for a
docker-registry configured with

    auth:
      token:
        realm: http://127.0.0.1:PORT/token
        service: SERVICE
        issuer: ISSUER
        rootcertbundle: CERT      (the certificate given here)

  GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]
       with Authorization: Basic (or none: an anonymous token, no access)
  POST /token  (OAuth2 form: grant_type=password, username, password,
       service, scope; client_id ignored)

Wrong credentials get 401; a service other than --service gets 400.  Valid
credentials get every action they ask for (pull, push, delete, *).  The
answer is {"token", "access_token", "expires_in", "issued_at"}.

Tokens are JWTs signed RS256 (PKCS#1 v1.5, SHA-256) with `openssl dgst
-sha256 -sign KEY` (no Python crypto library needed); the header carries
the signing certificate as x5c, which registry 2.8 verifies against its
rootcertbundle (ExtKeyUsageAny) before checking the signature with the
leaf's key.  Claims: iss, sub, aud (a string, as 2.8 expects), exp, nbf,
iat, jti, access.

--log FILE: one line per request: METHOD PATH USER STATUS, USER being the
account name, "-" for anonymous requests, "!" for refused credentials (the
password is never logged).  Prints its port on stdout.
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import signal
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class Signer:
    def __init__(self, key, cert):
        self.key = key
        with open(cert) as f:
            pem = f.read()
        m = re.search(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", pem, re.S)
        if not m:
            sys.exit("tokenserver: no certificate in %s" % cert)
        der = base64.b64decode("".join(m.group(1).split()))
        self.x5c = [base64.b64encode(der).decode()]

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": self.x5c}
        signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key],
                             input=signing_input.encode(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, check=True).stdout
        return signing_input + "." + b64url(sig)


def parse_scope(s):
    # repository:NAME:pull,push  |  repository(plugin):NAME:pull  |  registry:catalog:*
    typ, rest = s.split(":", 1) if ":" in s else (s, "")
    if ":" not in rest:
        return None
    name, actions = rest.rsplit(":", 1)
    typ = typ.split("(", 1)[0]
    acts = [a for a in actions.split(",") if a]
    return {"type": typ, "name": name, "actions": acts}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tokenserver/1"

    def log_message(self, fmt, *args):
        pass

    def _log(self, user, status):
        st = self.server.st
        if st["log"]:
            with st["lock"]:
                st["log"].write("%s %s %s %d\n" % (self.command, self.path, user, status))

    def _json(self, status, obj, user, extra=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self._log(user, status)

    def _issue(self, user, password, authenticated, service, scopes):
        st = self.server.st
        if authenticated:
            if st["users"].get(user) != password:
                self._json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "authentication required"}]}, "!",
                           [("WWW-Authenticate", 'Basic realm="cairn-test-token"')])
                return
        if service != st["service"]:
            self._json(400, {"errors": [{"code": "DENIED", "message": "unknown service %r" % service}]},
                       user if authenticated else "-")
            return
        access = []
        if authenticated:
            for s in scopes:
                for one in s.split(" "):
                    a = parse_scope(one) if one else None
                    if a:
                        access.append(a)
        now = int(time.time())
        claims = {
            "iss": st["issuer"],
            "sub": user if authenticated else "",
            "aud": st["service"],
            "exp": now + st["ttl"],
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        tok = st["signer"].sign(claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._json(200, {"token": tok, "access_token": tok, "expires_in": st["ttl"], "issued_at": issued},
                   user if authenticated else "-")

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        if u.path != "/token":
            self._json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]}, "-")
            return
        q = urllib.parse.parse_qs(u.query)
        user = password = None
        authn = False
        h = self.headers.get("Authorization") or ""
        if h.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(h[6:].strip()).decode().partition(":")
                authn = True
            except ValueError:
                user, password, authn = "", "", True
        self._issue(user, password, authn, (q.get("service") or [""])[0], q.get("scope") or [])

    def do_POST(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode()) if n else {}
        if u.path != "/token":
            self._json(404, {"errors": [{"code": "NOT_FOUND", "message": "not found"}]}, "-")
            return
        if (form.get("grant_type") or [""])[0] != "password":
            self._json(400, {"error": "unsupported_grant_type"}, "-")
            return
        self._issue((form.get("username") or [""])[0], (form.get("password") or [""])[0], True,
                    (form.get("service") or [""])[0], form.get("scope") or [])


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--key", required=True, help="RSA private key (PEM)")
    ap.add_argument("--cert", required=True, help="its certificate (PEM): the registry's rootcertbundle")
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", action="append", default=[], metavar="USER:PASS")
    ap.add_argument("--ttl", type=int, default=300)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    args = ap.parse_args()
    users = {}
    for up in args.user:
        u, _, p = up.partition(":")
        users[u] = p
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.st = {
        "signer": Signer(args.key, args.cert),
        "issuer": args.issuer,
        "service": args.service,
        "users": users,
        "ttl": args.ttl,
        "log": open(args.log, "a", buffering=1) if args.log else None,
        "lock": threading.Lock(),
    }
    signal.signal(signal.SIGTERM, lambda s, f: os._exit(0))
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
