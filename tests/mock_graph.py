"""A mock of the WhatsApp Cloud API (Graph API) on loopback that tests
drive: it records every request and answers from a script of responses
(status, body, delay, headers), or with success by default.  H2Front
puts it behind HTTPS and HTTP/2, as Graph is, with nghttpx."""

import http.server
import json
import os
import socket
import subprocess
import threading
import time

from otptest import stop_process


def success(wamid):
    return {"status": 200, "body": {
        "messaging_product": "whatsapp",
        "contacts": [{"input": "x", "wa_id": "x"}],
        "messages": [{"id": wamid}]}}


def error(code, status=400, title="Error"):
    return {"status": status, "body": {"error": {
        "message": "(#%d) %s" % (code, title), "type": "OAuthException",
        "code": code, "fbtrace_id": "Abc"}}}


class MockGraph:
    def __init__(self):
        self.requests = []
        self.script = []
        self.default = None
        self.count = 0
        self.lock = threading.Lock()
        mock = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this the
            # body waits for the client's delayed ACK (about 40 ms).
            disable_nagle_algorithm = True

            def log_message(self, *a):
                pass

            def do_GET(self):
                """The bodies received so far, for the browser tests."""
                with mock.lock:
                    payload = json.dumps([r["body"].decode("utf-8", "replace")
                                          for r in mock.requests]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with mock.lock:
                    mock.requests.append({
                        "path": self.path, "headers": dict(self.headers),
                        "body": body, "time": time.time()})
                    mock.count += 1
                    if mock.script:
                        r = mock.script.pop(0)
                    elif mock.default is not None:
                        r = mock.default
                    else:
                        r = success("wamid.TEST%06d" % mock.count)
                if r.get("delay"):
                    time.sleep(r["delay"])
                payload = r.get("raw")
                if payload is None:
                    payload = json.dumps(r.get("body", {})).encode()
                try:
                    self.send_response(r.get("status", 200))
                    for k, v in r.get("headers", {}).items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128    # many workers connect at once

            def handle_error(self, request, address):
                pass    # the client hung up: a timeout being tested

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def reset(self, *script, default=None):
        with self.lock:
            self.requests = []
            self.script = list(script)
            self.default = default

    def sent(self):
        """The JSON bodies received, in order."""
        with self.lock:
            return [json.loads(r["body"]) for r in self.requests]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class H2Front:
    """nghttpx on a free loopback port: HTTPS with HTTP/2 (ALPN h2) in
    front of an HTTP/1.1 server on backend_port, with a self-signed
    certificate for 127.0.0.1 made in folder d (the CA file to trust).
    With http1 set it offers HTTP/1.1 only, as some TLS proxies do."""

    def __init__(self, d, backend_port, port, http1=False):
        os.makedirs(d, exist_ok=True)
        self.key = os.path.join(d, "h2-key.pem")
        self.ca_file = os.path.join(d, "h2-cert.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
             "-subj", "/CN=127.0.0.1", "-addext",
             "subjectAltName=IP:127.0.0.1", "-keyout", self.key,
             "-out", self.ca_file],
            check=True, capture_output=True, timeout=30)
        self.port = port
        self.log = open(os.path.join(d, "nghttpx.log"), "w")
        # The mock answers each request on a connection of its own:
        # nghttpx's default of 8 to a backend would queue the rest.
        self.proc = subprocess.Popen(
            ["nghttpx", "--conf=/dev/null", "--workers=1",
             "--frontend=127.0.0.1,%d" % port,
             "--backend=127.0.0.1,%d" % backend_port,
             "--backend-connections-per-host=1024",
             "--frontend-http2-max-concurrent-streams=100",
             "--npn-list=" + ("http/1.1" if http1 else "h2,http/1.1"),
             "--errorlog-file=" + os.path.join(d, "nghttpx-error.log"),
             self.key, self.ca_file],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                if self.proc.poll() is None:    # not another's port
                    return
                break
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("nghttpx did not start on port %d" % port)

    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def stop(self):
        stop_process(self.proc, 5)
        self.log.close()


def tcp_connections(pid, port):
    """How many established TCP connections process pid has to
    127.0.0.1:port (from /proc: its socket inodes, the kernel's table)."""
    inodes = set()
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            link = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    with open("/proc/%d/net/tcp" % pid) as f:
        next(f)
        for line in f:
            col = line.split()
            if col[3] == "01" and col[2] == "0100007F:%04X" % port \
                    and col[9] in inodes:
                n += 1
    return n
