"""The test harness: a real lighttpd in front of the real (sanitized)
otp.fcgi on a free loopback port, a fresh configuration, database and
secrets for each service, and HTTP helpers.  Standard library only.

Every service writes sanitizer reports to files under its folder; stop()
fails if there are any.
"""

import glob
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "tests", "build")
OUT = os.path.join(TOP, "tests", "out")
FCGI = os.path.join(BUILD, "otp.fcgi")
OTPCTL = os.path.join(BUILD, "otpctl")

# The test binaries live in tests/build/, not beside www/: say where it is.
os.environ["OTP_WWW"] = os.path.join(TOP, "www")

# The configuration every test service starts from (API.md section 7).
BASE_CONF = {
    "service": {
        "name": "Baghdad OTP Test",
        "base_url": "http://127.0.0.1",
        "contact_email": "privacy@example.test",
        "policy_updated": "2026-11-21",
        "require_https": "no",
        "default_locale": "en",
    },
    "otp": {"default_country": "964"},
    "whatsapp": {"channel": "console"},
}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def stop_process(proc, seconds=10):
    """Terminate proc if it still runs, and kill it if it has not ended
    within seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def fcgi_record(rtype, content=b""):
    """One FastCGI record of request 1."""
    return struct.pack("!BBHHBx", 1, rtype, 1, len(content), 0) + content


def fcgi_pairs(params):
    out = b""
    for k, v in params.items():
        for n in (len(k), len(v)):
            out += struct.pack("!B" if n < 128 else "!I",
                               n if n < 128 else n | 0x80000000)
        out += k.encode() + v.encode()
    return out


def connect_to(addr):
    """A connected socket to addr: a unix socket's path, or (host, port)."""
    c = socket.socket(socket.AF_UNIX if isinstance(addr, str) else
                      socket.AF_INET)
    try:
        c.settimeout(10)
        c.connect(addr)
    except OSError:
        c.close()
        raise
    return c


def wait_for_listener(addr, seconds=10):
    """Wait until something accepts connections at addr (as connect_to)."""
    end = time.monotonic() + seconds
    while True:
        try:
            connect_to(addr).close()
            return
        except OSError:
            if time.monotonic() > end:
                raise AssertionError("nothing listens on %r" % (addr,))
            time.sleep(0.05)


def fcgi_request(addr, params, stdin=b"", end=True):
    """Send one FastCGI request on a new connection to addr (as
    connect_to; with end false, without the record that ends its stdin),
    read until its FCGI_END_REQUEST, and return (the connection, still
    open on this side, and the stdout bytes)."""
    c = connect_to(addr)
    c.sendall(fcgi_record(1, struct.pack("!HB5x", 1, 0)) +
              fcgi_record(4, fcgi_pairs(params)) + fcgi_record(4) +
              b"".join(fcgi_record(5, stdin[i:i + 32768])
                       for i in range(0, len(stdin), 32768)) +
              (fcgi_record(5) if end else b""))
    data, out = b"", b""
    while True:
        while len(data) < 8 or len(data) < 8 + sum(
                struct.unpack("!HB", data[4:7])):
            chunk = c.recv(65536)
            if not chunk:
                raise AssertionError("connection closed before "
                                     "FCGI_END_REQUEST: %r" % out)
            data += chunk
        rtype = data[1]
        clen, plen = struct.unpack("!HB", data[4:7])
        content, data = data[8:8 + clen], data[8 + clen + plen:]
        if rtype == 6:
            out += content
        elif rtype == 3:
            return c, out


def children_of(pid):
    """Pids whose parent is pid (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may hold spaces or parentheses.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            out.append(int(d))
    return out


def write_conf(path, sections):
    with open(path, "w") as f:
        for sec, kv in sections.items():
            f.write("[%s]\n" % sec)
            for k, v in kv.items():
                f.write("%s = %s\n" % (k, v))


def merge(base, over):
    out = {s: dict(kv) for s, kv in base.items()}
    for s, kv in (over or {}).items():
        out.setdefault(s, {}).update(kv)
    return out


def sanitizer_env(folder):
    return {
        "ASAN_OPTIONS": "log_path=%s/asan:detect_leaks=1:abort_on_error=0"
                        % folder,
        "UBSAN_OPTIONS": "log_path=%s/ubsan:print_stacktrace=1:"
                         "halt_on_error=1" % folder,
    }


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


class Service:
    """One otp.fcgi behind one lighttpd, with its own folder."""

    def __init__(self, name, conf=None, secrets=None, args=""):
        self.dir = os.path.join(OUT, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.port = free_port()
        self.console = os.path.join(self.dir, "console.jsonl")
        self.conf_path = os.path.join(self.dir, "otp.conf")
        self.errorlog = os.path.join(self.dir, "error.log")
        base = merge(BASE_CONF, {
            "service": {"database": os.path.join(self.dir, "otp.db"),
                        "secrets": os.path.join(self.dir, "secrets")},
            "whatsapp": {"console_file": self.console},
        })
        write_conf(self.conf_path, merge(base, conf))
        self.env = dict(os.environ, OTP_CONFIG=self.conf_path,
                        **sanitizer_env(self.dir))
        self.otpctl("init")
        if secrets:
            self.set_secrets(secrets)
        self.args = args        # otp.fcgi's options, on bin-path
        self.proc = None
        self.start()

    def otpctl(self, *args, check=True):
        p = subprocess.run([OTPCTL, "-c", self.conf_path] + list(args),
                           capture_output=True, text=True, env=self.env,
                           timeout=30)
        if check and p.returncode != 0:
            raise AssertionError("otpctl %s: %s" % (args, p.stderr))
        return p

    def set_secrets(self, values):
        """Set keys of the secrets file (as an operator would)."""
        path = os.path.join(self.dir, "secrets")
        with open(path) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            k = line.split("=", 1)[0].strip()
            if k in values:
                line = "%s = %s" % (k, values[k])
            out.append(line)
        with open(path, "w") as f:
            f.write("\n".join(out) + "\n")

    def create_app(self, name="test"):
        p = self.otpctl("app", "create", name, "--json")
        d = json.loads(p.stdout)
        return d["app_id"], d["api_key"]

    def start(self):
        lconf = os.path.join(self.dir, "lighttpd.conf")
        with open(lconf, "w") as f:
            f.write('server.document-root = "%s/www"\n' % TOP)
            f.write('server.bind = "127.0.0.1"\n')
            f.write("server.port = %d\n" % self.port)
            f.write('server.errorlog = "%s"\n' % self.errorlog)
            f.write('var.otp_fcgi = "%s%s"\n' % (FCGI, self.args))
            f.write('var.otp_config = "%s"\n' % self.conf_path)
            f.write('var.otp_socket = "%s/otp.sock"\n' % self.dir)
            f.write('include "%s/conf/lighttpd-otp.conf"\n' % TOP)
        # otp.fcgi inherits lighttpd's stderr: the same log file.
        with open(self.errorlog, "a") as log:
            self.proc = subprocess.Popen(["lighttpd", "-D", "-f", lconf],
                                         env=self.env,
                                         stdout=subprocess.DEVNULL,
                                         stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                self.get("/healthz")
                return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop(check=False)
        raise AssertionError("service did not start: %s" % self.log())

    def stop(self, check=True):
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
            # lighttpd's spawned children get SIGTERM from it; give
            # them a moment to write their sanitizer reports.
            time.sleep(0.3)
        if check:
            assert_no_sanitizer_reports(self.dir)

    def log(self):
        try:
            with open(self.errorlog, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def request(self, method, path, body=None, headers=None, key=None,
                ctype="application/json", timeout=30):
        h = dict(headers or {})
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        if body is not None and ctype is not None:
            h.setdefault("Content-Type", ctype)
        c = http.client.HTTPConnection("127.0.0.1", self.port,
                                       timeout=timeout)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            return Response(r.status, r.getheaders(),
                            r.read().decode("utf-8", "replace"))
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def console_lines(self):
        """The console file's complete lines: a line still being written
        by the service, without its newline yet, is left out."""
        try:
            with open(self.console) as f:
                return [json.loads(line) for line in f
                        if line.endswith("\n") and line.strip()]
        except FileNotFoundError:
            return []


def run_cgi(conf_path, env, body=b"", extra_env=None):
    """Run the binary as plain CGI once; returns (status, headers, body)."""
    e = {"OTP_CONFIG": conf_path, "GATEWAY_INTERFACE": "CGI/1.1",
         "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
         "CONTENT_LENGTH": str(len(body)), "PATH": os.environ["PATH"],
         "OTP_WWW": os.environ["OTP_WWW"]}
    e.update(env)
    e.update(extra_env or {})
    p = subprocess.run([FCGI], input=body, capture_output=True, env=e,
                       timeout=30)
    head, _, payload = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("Status:") \
        else 0
    headers = [tuple(x.split(": ", 1)) for x in lines[1:] if ": " in x]
    return p.returncode, status, headers, payload.decode(), p.stderr.decode()


def assert_no_sanitizer_reports(folder):
    reports = glob.glob(os.path.join(folder, "asan*")) + \
        glob.glob(os.path.join(folder, "ubsan*"))
    if reports:
        with open(reports[0], errors="replace") as f:
            raise AssertionError("sanitizer report %s:\n%s"
                                 % (reports[0], f.read()[:4000]))


def expect(cond, msg="", *args):
    if not cond:
        raise AssertionError(msg % args if args else msg)


def expect_problem(r, status, code):
    """r is a problem document with this status and code."""
    expect(r.status == status, "status %d, expected %d: %r",
           r.status, status, r)
    expect(r.header("Content-Type") == "application/problem+json",
           "content type %r", r.header("Content-Type"))
    d = r.json()
    expect(d.get("code") == code, "code %r, expected %r", d.get("code"),
           code)
    expect(d.get("status") == status, "status member %r", d.get("status"))
    expect(d.get("type") == "https://baghdad-otp.dev/errors/" + code,
           "type %r", d.get("type"))
    expect(isinstance(d.get("title"), str) and d["title"], "no title")
    expect(isinstance(d.get("detail"), str) and d["detail"], "no detail")
    expect(r.header("X-Content-Type-Options") == "nosniff", "no nosniff")
    return d


def code_for(svc, otp_id):
    """The code the console channel wrote for otp_id."""
    for line in reversed(svc.console_lines()):
        if line["otp_id"] == otp_id:
            return line["code"]
    raise AssertionError("no console line for %s" % otp_id)


def wrong_code(code):
    """A code of the same length that is not code."""
    return "".join(str((int(d) + 1) % 10) for d in code)
