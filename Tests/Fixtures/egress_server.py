"""A loopback HTTP server for the egress tests: an OAuth2 token endpoint, protected
APIs (bearer, basic, API key), 429 with Retry-After, a slow and an oversized
response. Prints its port on the first line, then serves until killed or until its
stdin closes (the test process that started it is gone)."""
import base64
import json
import os
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"tokens": set(), "issued": 0, "refresh": "refresh-1", "lock": threading.Lock()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"{}", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        get = lambda k: (form.get(k) or [""])[0]
        if self.path != "/token":
            return self.reply(404)
        with STATE["lock"]:
            grant = get("grant_type")
            ok = get("client_id") == "cid" and (
                (grant == "client_credentials" and get("client_secret") == "canary-client-secret-8h")
                or (grant == "refresh_token" and get("refresh_token") == STATE["refresh"]))
            if not ok:
                return self.reply(401, b'{"error":"invalid_client"}')
            STATE["issued"] += 1
            token = "tok-%d" % STATE["issued"]
            STATE["tokens"].add(token)
            answer = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
            if grant == "refresh_token":  # refresh tokens rotate on every use
                STATE["refresh"] = "refresh-%d" % (STATE["issued"] + 1)
                answer["refresh_token"] = STATE["refresh"]
        self.reply(200, json.dumps(answer).encode())

    def do_GET(self):
        auth = self.headers.get("Authorization", "")
        path = self.path.split("?")[0]
        if path == "/protected":
            token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
            with STATE["lock"]:
                good = token in STATE["tokens"] or token == "canary-bearer-9z7x"
            return self.reply(200 if good else 401, b'{"ok":true}' if good else b'{"error":"unauthorized"}')
        if path == "/expire":  # the provider revokes every token it issued
            with STATE["lock"]:
                STATE["tokens"].clear()
            return self.reply(200)
        if path == "/basic":
            good = auth == "Basic " + base64.b64encode(b"api-user:canary-pw-7q3w").decode()
            return self.reply(200 if good else 401)
        if path == "/apikey":
            return self.reply(200 if self.headers.get("X-API-Key") == "canary-apikey-5k2m" else 401)
        if path == "/limited":
            return self.reply(429, b'{"error":"slow down"}', {"Retry-After": "2"})
        if path == "/slow":
            time.sleep(3)
            return self.reply(200)
        if path == "/big":
            return self.reply(200, b"x" * (2 * 1024 * 1024))
        if path == "/stats":
            with STATE["lock"]:
                return self.reply(200, json.dumps({"issued": STATE["issued"]}).encode())
        self.reply(404)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) == 4 and sys.argv[1] == "--tls":  # --tls CERT KEY: HTTPS with a certificate nobody trusts
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)


def exit_with_parent():
    # A test process that ends without running its deinitializers (or is killed) leaves no server behind.
    sys.stdin.buffer.read()
    os._exit(0)


threading.Thread(target=exit_with_parent, daemon=True).start()
server.serve_forever()
