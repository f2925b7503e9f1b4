"""A mock of the WhatsApp Cloud API (Graph API) on loopback that tests
drive: it records every request and answers from a script of responses
(status, body, delay, headers), or with success by default."""

import http.server
import json
import threading
import time


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
