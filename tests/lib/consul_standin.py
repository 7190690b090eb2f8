#!/usr/bin/env python3
"""A stand-in for the part of Consul backy's flyingcircus source uses, plus
a stand-in for the VM host's agent.

  consul_standin.py PORTFILE LOGFILE [--token TOKEN] [--agent VM=POOL/IMAGE]

Listens on 127.0.0.1 (a free port, written to PORTFILE once listening) and
speaks the KV subset of the HTTP API:
  PUT /v1/kv/KEY       store the body, answer "true"
  GET /v1/kv/KEY       [{"Key": KEY, "Value": base64}] or 404
  DELETE /v1/kv/KEY    remove, answer "true"
With --token, every request must carry "X-Consul-Token: TOKEN" (else 403).
Each request is logged to LOGFILE as one JSON line {"method", "key",
"token", "body"}.

With --agent VM=POOL/IMAGE it also plays the host of VM: when a key
snapshot/* is stored whose JSON names that vm, it runs
"rbd snap create POOL/IMAGE@SNAPSHOT" (the freeze is implied), as the
host's agent does when it sees the request.
"""
import base64
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

store = {}
lock = threading.Lock()
args = {"token": None, "agents": {}, "log": None}


def log(entry):
    with lock:
        with open(args["log"], "a") as f:
            f.write(json.dumps(entry) + "\n")


def agent(value):
    try:
        req = json.loads(value)
    except ValueError:
        return
    image = args["agents"].get(req.get("vm"))
    snap = req.get("snapshot")
    if not image or not snap:
        return
    r = subprocess.run(["rbd", "snap", "create", "%s@%s" % (image, snap)],
                       capture_output=True, text=True)
    log({"agent": "snap create", "image": image, "snapshot": snap,
         "rc": r.returncode, "stderr": r.stderr.strip()})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_kv(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        token = self.headers.get("X-Consul-Token")
        key = self.path.split("?", 1)[0]
        log({"method": method, "key": key[len("/v1/kv/"):] if key.startswith("/v1/kv/") else key,
             "token": token, "body": body.decode("utf-8", "replace")})
        if not key.startswith("/v1/kv/") or len(key) <= len("/v1/kv/"):
            return self.reply(404)
        key = key[len("/v1/kv/"):]
        if args["token"] is not None and token != args["token"]:
            return self.reply(403, b"Permission denied")
        if method == "PUT":
            with lock:
                store[key] = body
            if key.startswith("snapshot/"):
                threading.Thread(target=agent, args=(body,), daemon=True).start()
            return self.reply(200, b"true")
        if method == "GET":
            with lock:
                v = store.get(key)
            if v is None:
                return self.reply(404)
            out = [{"Key": key, "Value": base64.b64encode(v).decode(), "Flags": 0}]
            return self.reply(200, json.dumps(out).encode())
        if method == "DELETE":
            with lock:
                store.pop(key, None)
            return self.reply(200, b"true")
        return self.reply(405)

    def do_PUT(self):
        self.handle_kv("PUT")

    def do_GET(self):
        self.handle_kv("GET")

    def do_DELETE(self):
        self.handle_kv("DELETE")


def main():
    argv = sys.argv[1:]
    if len(argv) < 2:
        sys.exit(__doc__)
    portfile, args["log"] = argv[0], argv[1]
    rest = argv[2:]
    while rest:
        opt = rest.pop(0)
        if opt == "--token" and rest:
            args["token"] = rest.pop(0)
        elif opt == "--agent" and rest:
            vm, image = rest.pop(0).split("=", 1)
            args["agents"][vm] = image
        else:
            sys.exit("consul_standin.py: error: unknown option: " + opt)
    open(args["log"], "a").close()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
