#!/usr/bin/env python3
"""make bench: the release otp.fcgi against the trivial FastCGI responder.

Both run behind their own lighttpd on a free loopback port, configured
the same way (one FastCGI process with 4 threads, mounted at "/"), and
every measurement runs wrk with the same parameters and the same Lua
script against each, one after the other, so that the ratio
service req/s / trivial req/s cancels out most of the machine's speed.

Then sends against a slow WhatsApp (issue item 4): a mock Graph API
(tests/mock_graph.py, in this process) that answers every message after
200 ms, and a second otp.fcgi with channel = whatsapp pointing at it,
behind its own lighttpd, started twice: with the default 4 FastCGI
threads and with --threads 64.  Each takes POST /v1/otp to random numbers
at wrk -c 8, 32 and 128; the table gives sends/s next to the mock's own
count of messages received per second.  Each thread blocks for the whole
send, so threads / 0.2 s (20/s, 320/s) is the ceiling; the target is
WhatsApp's top tier, 1,000 messages/s per number.

Environment: BENCH_SECONDS (default 10) is each wrk run's duration;
BENCH_THREADS (2) and BENCH_CONNECTIONS (32) are wrk's -t and -c (the
WhatsApp runs use their own -c values); BENCH_PAUSE=fixed makes the
half-load run pause a fixed 10 ms between requests instead of a random
time of that mean (as sessions 4 to 8 measured it).

Standard library only, plus wrk(1) and lighttpd(8).  Exits non-zero when
something could not be measured; a missed target is reported, not fatal.
"""

import http.client
import itertools
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import otptest  # noqa: E402  (free_port, write_conf, merge, BASE_CONF)
from mock_graph import H2Front, MockGraph, success, tcp_connections  # noqa: E402,E501

TOP = otptest.TOP
OTP_FCGI = os.path.join(TOP, "cgi-bin", "otp.fcgi")  # release build
OTPCTL = os.path.join(TOP, "otpctl")                 # release build
TRIVIAL = os.path.join(TOP, "tests", "build", "trivial.fcgi")
BENCH_OUT = os.path.join(otptest.OUT, "bench")
FCGI_THREADS = 4  # otp.fcgi's default; trivial.fcgi is given the same

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
PAUSE_FIXED = os.environ.get("BENCH_PAUSE") == "fixed"
if (os.environ.get("BENCH_PAUSE") or "random") not in ("random", "fixed"):
    sys.exit("bench: BENCH_PAUSE is random (the default) or fixed")
WRK_THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WRK_CONNS = int(os.environ.get("BENCH_CONNECTIONS", "32"))

# The targets: minimum ratio of the trivial responder's req/s.
TARGETS = {"status": 0.6, "send": 0.3, "verify": 0.5}
P99_TARGET_MS = 5.0
RSS_TARGET_MB = 32.0

# Sends through a slow WhatsApp (issue item 4).
WA_DELAY = 0.2              # s, the mock's answer time
WA_FRONTS = (4, 64, 256)    # otp.fcgi threads: its default, 64 and 256
WA_CONNS = (8, 32, 128, 256)  # wrk -c
WA_TARGET = 1000.0          # sends/s: WhatsApp's top tier, per number
# The same through HTTPS and HTTP/2, as Graph is: the production case.
WA_TLS_THREADS = 256
WA_TLS_CONNS = (256,)
# otp.fcgi(8)'s advice for many threads.
MANY_THREADS_TUNABLES = "glibc.malloc.tcache_count=0"
# wrk counts an answer later than --timeout as an error and leaves it
# out of the latency percentiles.  The longest queue here, 128 requests
# at 4 / 0.2 s = 20 per second, is 6.4 s, so allow much more than that
# and every answer is in p50/p99.
WA_WRK_TIMEOUT = 30


class BenchError(Exception):
    pass


def log(msg):
    print("bench: " + msg, flush=True)


# --- processes --------------------------------------------------------

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def proc_status(pid, field):
    """A kB value from /proc/pid/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Lighttpd:
    """One lighttpd in front of one FastCGI program, in folder d."""

    def __init__(self, name, d, fastcgi_conf, env=None):
        self.name = name
        self.dir = d
        self.port = otptest.free_port()
        self.errorlog = os.path.join(d, "error-%s.log" % name)
        self.conf = os.path.join(d, "lighttpd-%s.conf" % name)
        with open(self.conf, "w") as f:
            f.write('server.document-root = "%s/www"\n' % TOP)
            f.write('server.bind = "127.0.0.1"\n')
            f.write("server.port = %d\n" % self.port)
            f.write('server.errorlog = "%s"\n' % self.errorlog)
            f.write(fastcgi_conf)
        self.env = env or dict(os.environ)
        self.proc = None
        self.kids = []  # FastCGI children seen, with their command lines

    def start(self):
        with open(self.errorlog, "a") as errf:
            self.proc = subprocess.Popen(
                ["lighttpd", "-D", "-f", self.conf], env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=errf)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                st, _ = http_request(self.port, "GET", "/healthz")
                if st == 200:
                    self.remember_kids()
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise BenchError("%s did not start:\n%s" % (self.name, self.log()))

    def remember_kids(self):
        if self.proc is None:
            return
        for pid in otptest.children_of(self.proc.pid):
            if pid not in [p for p, _ in self.kids]:
                self.kids.append((pid, cmdline(pid)))

    def log(self):
        try:
            with open(self.errorlog, errors="replace") as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def stop(self):
        """Stop lighttpd, then any FastCGI child it left running."""
        self.remember_kids()
        if self.proc is not None:
            otptest.stop_process(self.proc)
            self.proc = None
        # lighttpd does not always take its FastCGI children with it.
        # Kill only the pids we saw it spawn, and only if the pid still
        # runs the same program (not a reused pid).
        alive = []
        for pid, cl in self.kids:
            if cl and cmdline(pid) == cl:
                try:
                    os.kill(pid, signal.SIGTERM)
                    alive.append((pid, cl))
                except ProcessLookupError:
                    pass
        deadline = time.time() + 5
        while alive and time.time() < deadline:
            alive = [(p, c) for p, c in alive if cmdline(p) == c and
                     not is_zombie(p)]
            time.sleep(0.05)
        for pid, cl in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def is_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rfind(")") + 2:].split()[0] == "Z"
    except OSError:
        return True


def http_request(port, method, path, body=None, key=None):
    h = {}
    if key:
        h["Authorization"] = "Bearer " + key
    if body is not None:
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


# --- wrk --------------------------------------------------------------

# Shared by every script: each wrk thread learns its number (tid, from
# 1) and the thread count, and done() prints the numbers as one line.
LUA_COMMON = r'''
local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end
function done(summary, latency, requests)
  -- Scripts that time themselves (a burst) leave t_start, t_end and
  -- answered in each thread.
  local t0, t1, n, complete = nil, nil, 0, true
  for _, t in ipairs(threads) do
    local a, b = t:get("t_start"), t:get("t_end")
    if a then
      if not b then complete = false end
      t0 = math.min(t0 or a, a)
      t1 = math.max(t1 or b or a, b or a)
      n = n + (t:get("answered") or 0)
    end
    local b = t:get("bad")
    if b and #b > 0 then io.write("BAD " .. b .. "\n") end
  end
  io.write(string.format(
    "BENCH {\"requests\":%d,\"duration_us\":%d,\"p50_us\":%d," ..
    "\"p99_us\":%d,\"mean_us\":%.1f,\"status_gt399\":%d," ..
    "\"connect\":%d,\"read\":%d,\"write\":%d,\"timeout\":%d," ..
    "\"burst_n\":%d,\"burst_s\":%.6f,\"burst_complete\":%s}\n",
    summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.mean, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, n, t0 and (t1 - t0) or 0,
    tostring(t0 ~= nil and complete)))
end
'''

LUA_HEALTHZ = LUA_COMMON + r'''
wrk.method = "GET"
wrk.path = "/healthz"
'''

# POST /v1/otp to random Iraqi mobile numbers (+9647 and 9 digits).
LUA_SEND = LUA_COMMON + r'''
wrk.method = "POST"
wrk.path = "/v1/otp"
wrk.headers["Authorization"] = "Bearer @KEY@"
wrk.headers["Content-Type"] = "application/json"
function init(args)
  math.randomseed(tonumber(args[1]) + 7919 * tid)
end
function request()
  local d = {}
  for i = 1, 9 do d[i] = math.random(0, 9) end
  return wrk.format(nil, nil, nil,
    '{"phone":"+9647' .. table.concat(d) .. '"}')
end
'''

# The same sends through the WhatsApp channel: note any answer that is
# not a 201 with the delivery sent.
LUA_SEND_WA = LUA_SEND + r'''
bad = ""
function response(status, headers, body)
  if (status ~= 201 or not body:find('"sent"', 1, true)) and #bad < 600 then
    bad = bad .. status .. " " .. body:sub(1, 200) .. "; "
  end
end
'''

# Cycle through the lines "id code" of a file (each thread its share,
# in the same order): POST /v1/otp/verify, or GET /v1/otp/{id}.
# With args[3] = delay in ms, each connection waits that long between
# requests (the "half load" latency run).  args[4]: how many requests
# earlier runs sent, so that a run goes on where they stopped and every
# OTP gets its share of wrong codes, not the first ones all of them.
LUA_CYCLE = LUA_COMMON + r'''
local reqs = {}
local i = 0
local pause = 0
function init(args)
  local mode, file = args[1], args[2]
  pause = tonumber(args[3] or "0")
  local hdr = {["Authorization"] = "Bearer @KEY@",
               ["Content-Type"] = "application/json"}
  local n = 0
  for line in io.lines(file) do
    n = n + 1
    if (n - 1) % nthreads_total == tid - 1 then
      local id, code = line:match("^(%S+) (%S+)$")
      if mode == "verify" then
        reqs[#reqs + 1] = wrk.format("POST", "/v1/otp/verify", hdr,
          '{"id":"' .. id .. '","code":"' .. code .. '"}')
      else
        reqs[#reqs + 1] = wrk.format("GET", "/v1/otp/" .. id,
          {["Authorization"] = "Bearer @KEY@"}, nil)
      end
    end
  end
  if #reqs == 0 then error("no requests for thread " .. tid) end
  i = math.floor(tonumber(args[4] or "0") / nthreads_total) % #reqs
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
'''

# The half-load run's pause between a connection's requests: random,
# exponentially distributed with a mean of args[3] ms, as the gaps of
# people who act independently of one another are.  A fixed pause
# (BENCH_PAUSE=fixed) keeps the requests that one stall bunched together
# bunched: they come back together after every pause, and the tail
# measured is largely wrk's own waves, the trivial responder's too.
# Each thread seeds its own sequence, so that runs draw the same pauses;
# wrk truncates a delay to whole milliseconds, so it is rounded.
LUA_DELAY = r'''
local seeded = false
function delay()
  if not seeded then
    math.randomseed(tid)
    seeded = true
  end
  return math.floor(-pause * math.log(1 - math.random()) + 0.5)
end
'''
LUA_DELAY_FIXED = r'''
function delay()
  return pause
end
'''

# Right codes: each thread sends each of its requests exactly once, then
# parks its connections; it times itself from its first request to its
# last answer (wrk's own duration is always the whole -d).
LUA_BURST = r'''
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk, bench_timespec *ts);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)   -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end
answered = 0
-- wrk calls delay() once before each request(), but request() may run
-- later (from a timer), so delay() is where a request is claimed.  wrk
-- also calls request() once before the run, in the first thread, to
-- check it: that call comes before any delay() and sends nothing.
local claimed = 0
function delay()
  if claimed >= #reqs then return 3600000 end
  claimed = claimed + 1
  return 0
end
function request()
  if claimed == 0 then return reqs[1] end
  if not t_start then t_start = now() end
  i = i + 1
  return reqs[math.min(i, #reqs)]
end
bad = ""
function response(status, headers, body)
  answered = answered + 1
  if status ~= 200 and #bad < 600 then
    bad = bad .. status .. " " .. body:sub(1, 200) .. "; "
  end
  if answered >= #reqs and not t_end then
    t_end = now()
    wrk.thread:stop()
  end
end
'''


def write_lua(d, name, text, key, extra=""):
    text += extra
    text = text.replace("@KEY@", key or "")
    text = text.replace("nthreads_total", str(WRK_THREADS))
    path = os.path.join(d, name + ".lua")
    with open(path, "w") as f:
        f.write(text)
    return path


def cpu_times():
    """(steal, all) jiffies of the machine's CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[7], sum(v)


def wrk(port, path, script, args=(), conns=None, seconds=None, timeout=5):
    """Run wrk once; returns a dict of its numbers, with the share of
    CPU time the hypervisor took from this VM meanwhile (steal)."""
    conns = conns or WRK_CONNS
    seconds = seconds or SECONDS
    cmd = ["wrk", "-t%d" % WRK_THREADS, "-c%d" % conns,
           "-d%ds" % seconds, "--timeout", "%ds" % timeout, "--latency",
           "-s", script, "http://127.0.0.1:%d%s" % (port, path)]
    if args:
        cmd += ["--"] + [str(a) for a in args]
    st0, all0 = cpu_times()
    p = subprocess.run(cmd, capture_output=True, text=True,
                       timeout=seconds + timeout + 60)
    st1, all1 = cpu_times()
    if p.returncode != 0:
        raise BenchError("wrk failed (%d): %s\n%s" %
                         (p.returncode, " ".join(cmd), p.stderr + p.stdout))
    m = re.search(r"^BENCH (\{.*\})$", p.stdout, re.M)
    if not m:
        raise BenchError("no result from wrk:\n" + p.stdout + p.stderr)
    r = json.loads(m.group(1))
    if r["requests"] == 0:
        raise BenchError("wrk completed no request:\n" + p.stdout)
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", p.stdout)
    r["non2xx"] = int(m.group(1)) if m else 0
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    if r["burst_complete"] and r["burst_s"] > 0:
        r["rps"] = r["burst_n"] / r["burst_s"]
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    r["conns"] = conns
    r["bad"] = re.findall(r"^BAD (.*)$", p.stdout, re.M)
    r["steal"] = (st1 - st0) / max(1, all1 - all0)
    return r


def combine(a, b):
    """Two wrk runs of the same thing as one: counts add up, req/s is
    over both durations, and p50/p99 are the larger of the two (wrk
    gives no histogram to merge)."""
    r = dict(a)
    for k in ("requests", "duration_us", "non2xx", "errors", "connect",
              "read", "write", "timeout", "status_gt399"):
        r[k] = a[k] + b[k]
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["p50_us"] = max(a["p50_us"], b["p50_us"])
    r["p99_us"] = max(a["p99_us"], b["p99_us"])
    r["mean_us"] = (a["mean_us"] * a["requests"] + b["mean_us"] *
                    b["requests"]) / max(1, r["requests"])
    r["steal"] = (a["steal"] + b["steal"]) / 2
    r["bad"] = a["bad"] + b["bad"]
    return r


# --- the run ----------------------------------------------------------

def make_service(d, whatsapp=None, secrets=None):
    """A configuration, database and app in folder d: the console
    channel, or the given [whatsapp] section; secrets sets keys of the
    secrets file otpctl init writes (as otptest.Service.set_secrets)."""
    os.makedirs(d, exist_ok=True)
    console = os.path.join(d, "console.jsonl")
    conf_path = os.path.join(d, "otp.conf")
    conf = otptest.merge(otptest.BASE_CONF, {
        "service": {"name": "Baghdad OTP Bench",
                    "database": os.path.join(d, "otp.db"),
                    "secrets": os.path.join(d, "secrets"),
                    "require_https": "no"},
        "otp": {"ttl": 600, "max_attempts": 10, "resend_cooldown": 0},
        "limits": {"sends_per_phone_hour": 0, "sends_per_phone_day": 0,
                   "sends_per_app_minute": 0, "sends_per_ip_minute": 0,
                   "failed_checks_per_phone_day": 0},
        "whatsapp": whatsapp or {"channel": "console",
                                 "console_file": console},
    })
    otptest.write_conf(conf_path, conf)
    env = dict(os.environ, OTP_CONFIG=conf_path)

    def otpctl(*args):
        p = subprocess.run([OTPCTL, "-c", conf_path] + list(args),
                           capture_output=True, text=True, env=env,
                           timeout=30)
        if p.returncode != 0:
            raise BenchError("otpctl %s: %s" % (" ".join(args), p.stderr))
        return p.stdout

    otpctl("init")
    if secrets:
        path = os.path.join(d, "secrets")
        with open(path) as f:
            lines = f.read().splitlines()
        seen = set()
        for i, line in enumerate(lines):
            k = line.split("=", 1)[0].strip()
            if k in secrets:
                lines[i] = "%s = %s" % (k, secrets[k])
                seen.add(k)
        if seen != set(secrets):
            raise BenchError("secrets file has no line for %s" %
                             ", ".join(sorted(set(secrets) - seen)))
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
    key = json.loads(otpctl("app", "create", "bench", "--json"))["api_key"]
    return conf_path, console, key, env


FASTCGI_COMMON = '''\
	"max-procs"           => 1,
	"check-local"         => "disable",
	"fix-root-scriptname" => "enable",
)) )
server.max-request-size = 64
'''


def trivial_conf(d):
    return ('server.modules += ( "mod_fastcgi" )\n'
            'fastcgi.server = ( "/" => ((\n'
            '\t"socket"              => "%s/trivial.sock",\n'
            '\t"bin-path"            => "%s %d",\n' % (d, TRIVIAL,
                                                        FCGI_THREADS)
            + FASTCGI_COMMON)


def otp_conf(d, conf_path, threads=None, sock="otp.sock"):
    # The service's own snippet, as deployed.  It must match the
    # trivial one above in everything but the program.  lighttpd splits
    # bin-path on spaces, so it can carry --threads.
    prog = OTP_FCGI
    if threads is not None:
        prog += " --threads %d" % threads
    return ('var.otp_fcgi = "%s"\n' % prog +
            'var.otp_config = "%s"\n' % conf_path +
            'var.otp_socket = "%s/%s"\n' % (d, sock) +
            'include "%s/conf/lighttpd-otp.conf"\n' % TOP)


def console_pairs(console):
    """[(otp_id, code)] in the order the service wrote them, leaving out
    an OTP that a later one to the same random number superseded."""
    lines = []
    with open(console) as f:
        for line in f:
            if line.strip():
                lines.append(json.loads(line))
    last = {o["phone"]: o["otp_id"] for o in lines}
    return [(o["otp_id"], o["code"]) for o in lines
            if last[o["phone"]] == o["otp_id"]]


def write_ids(d, name, pairs):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        for i, c in pairs:
            f.write("%s %s\n" % (i, c))
    return path


def fmt_ms(us):
    return "%.2f" % (us / 1000.0)


# --- sends through a slow WhatsApp (issue item 4) -----------------------

def wait_quiet(mock, limit=30.0):
    """Wait until the mock has received nothing for 3 answer times, and
    return its count.  When wrk stops, the requests it leaves behind are
    still queued for the FastCGI threads, which go on sending them; the
    next run must not start before they are done."""
    quiet = 3 * WA_DELAY
    last, since = mock.count, time.monotonic()
    deadline = since + limit
    while True:
        time.sleep(0.05)
        now = time.monotonic()
        n = mock.count
        if n != last:
            last, since = n, now
        elif now - since >= quiet:
            return n
        if now > deadline:
            raise BenchError("the service was still sending to the mock "
                             "%.0f s after wrk stopped" % limit)


def fcgi_pid(srv):
    srv.remember_kids()
    for pid, cl in srv.kids:
        if "cgi-bin/otp.fcgi" in cl and cmdline(pid) == cl:
            return pid
    raise BenchError("no otp.fcgi process found under lighttpd %s" %
                     srv.name)


class SlowSuccess(dict):
    """MockGraph's default answer: success after delay seconds, with a
    message id of its own each time.  One fixed id would not do: the
    service keeps message ids unique (index otp_wamid), so every send
    after the first would fail to be recorded and answer 503."""

    def __init__(self, delay):
        super().__init__(status=200, delay=delay)
        self.ids = itertools.count(1)  # next() is atomic in CPython

    def get(self, key, default=None):
        if key == "body":  # read once per answer
            return success("wamid.BENCH%09d" % next(self.ids))["body"]
        return super().get(key, default)


def whatsapp_bench(d):
    """POST /v1/otp through channel = whatsapp against a mock Graph API
    that answers after WA_DELAY: for each front in WA_FRONTS and each
    wrk -c in WA_CONNS over plain HTTP/1.1, then WA_TLS_THREADS threads
    through HTTPS and HTTP/2 (nghttpx in front of the mock), as Graph
    is.  Starts and stops everything it uses."""
    wd = os.path.join(d, "whatsapp")
    os.makedirs(wd)
    out = {"rows": [], "fronts": [], "notes": []}
    mock = MockGraph()
    h2 = None
    servers = []
    try:
        mock.reset(default=SlowSuccess(WA_DELAY))
        h2 = H2Front(os.path.join(wd, "h2"), mock.port, otptest.free_port())
        wa = {"phone_number_id": "1234", "timeout_ms": 5000, "retries": 0}
        plain = make_service(os.path.join(wd, "http"), whatsapp=dict(
            wa, channel="whatsapp", api_base=mock.url()),
            secrets={"whatsapp_access_token": "x"})
        tls = make_service(os.path.join(wd, "https"), whatsapp=dict(
            wa, channel="whatsapp", api_base=h2.url(),
            ca_file=h2.ca_file),
            secrets={"whatsapp_access_token": "x"})
        seed = int(time.time()) + 1000
        fronts = [(t, WA_CONNS, plain, None) for t in WA_FRONTS]
        fronts.append((WA_TLS_THREADS, WA_TLS_CONNS, tls, h2.port))
        for threads, conns_list, (conf_path, _, key, env), tls_port in \
                fronts:
            sd = os.path.dirname(conf_path)
            lua = write_lua(sd, "send-whatsapp", LUA_SEND_WA, key)
            name = "%d%s" % (threads, " https" if tls_port else "")
            # The default front is started as deployed, without
            # --threads; the thread count is checked either way.
            # Many threads run as otp.fcgi(8) says they should: without
            # glibc's per-thread cache of freed memory.
            srv = Lighttpd("wa-" + name.replace(" ", "-"), sd, otp_conf(
                sd, conf_path, None if threads == FCGI_THREADS else threads,
                sock="otp-%d.sock" % threads),
                env=env if threads == FCGI_THREADS else
                dict(env, GLIBC_TUNABLES=MANY_THREADS_TUNABLES))
            servers.append(srv)
            srv.start()
            pid = fcgi_pid(srv)
            deadline = time.time() + 5
            while (proc_status(pid, "Threads") or 0) < threads + 3 and \
                    time.time() < deadline:
                time.sleep(0.05)
            nthr = proc_status(pid, "Threads") or 0
            if nthr != threads + 3:
                raise BenchError("otp.fcgi (%s) runs %d threads, expected "
                                 "%d workers, the checkpointer, the "
                                 "sender and main" %
                                 (cmdline(pid), nthr, threads))
            log("whatsapp: otp.fcgi pid %d with %s threads on port %d, "
                "mock Graph API on port %d%s" % (
                    pid, name, srv.port, mock.port,
                    ", nghttpx on port %d" % tls_port if tls_port else ""))

            # The channel really is WhatsApp, and reaches the mock.
            n0 = mock.count
            st, body = http_request(srv.port, "POST", "/v1/otp",
                                    {"phone": "+9647700000001"}, key)
            if st != 201 or json.loads(body).get("delivery", {}) \
                    .get("status") != "sent" or mock.count != n0 + 1:
                raise BenchError("POST /v1/otp through the mock: %d %s "
                                 "(mock got %d)" %
                                 (st, body, mock.count - n0))

            for conns in conns_list:
                n0 = wait_quiet(mock)
                mock.reset(default=mock.default)  # drop what it kept
                peers = [0]
                if tls_port:
                    # Connections to Graph, counted halfway through.
                    timer = threading.Timer(SECONDS / 2.0, lambda: peers.
                                            append(tcp_connections(
                                                pid, tls_port)))
                    timer.start()
                t0 = time.monotonic()
                r = wrk(srv.port, "/v1/otp", lua, args=[seed], conns=conns,
                        timeout=WA_WRK_TIMEOUT)
                t1 = time.monotonic()
                n1 = mock.count
                n2 = wait_quiet(mock)
                seed += 1
                row = {"threads": threads, "name": name, "conns": conns,
                       "r": r, "sends": (r["requests"] - r["non2xx"]) /
                       (r["duration_us"] / 1e6),
                       "mock_rate": (n1 - n0) / (t1 - t0),
                       "after": n2 - n1,
                       "ceiling": threads / WA_DELAY,
                       "graph_conns": peers[-1] if tls_port else None}
                out["rows"].append(row)
                log("whatsapp: %s threads -c%-3d %7.1f sends/s  p50 %s ms "
                    "p99 %s ms  non-2xx %d  mock %.1f/s" % (
                        name, conns, row["sends"], fmt_ms(r["p50_us"]),
                        fmt_ms(r["p99_us"]), r["non2xx"], row["mock_rate"]))
                for b in r["bad"]:
                    out["notes"].append("whatsapp %s threads -c%d: "
                                        "unexpected answers: %s" %
                                        (name, conns, b[:600]))

            out["fronts"].append({"threads": threads, "name": name,
                                  "pid": pid,
                                  "hwm": proc_status(pid, "VmHWM") or 0})
            errs = [line for line in srv.log().splitlines()
                    if re.search(r"\b(error|fatal|abort|warn)", line, re.I)]
            if errs:
                out["notes"].append(
                    "whatsapp %s threads: %d lighttpd/otp.fcgi log lines "
                    "with errors or warnings, e.g. %s" %
                    (name, len(errs), errs[0][:200]))
            srv.stop()
            servers.remove(srv)
    finally:
        # The services first: their curl connections end at the mock.
        for srv in servers:
            try:
                srv.stop()
            except Exception as e:  # keep stopping the others
                print("bench: stopping %s: %s" % (srv.name, e),
                      file=sys.stderr)
        if h2 is not None:
            h2.stop()
        mock.stop()
    return out


def whatsapp_report(wa):
    """Print the WhatsApp table; returns the names of missed targets."""
    print("Sends through a slow WhatsApp (issue item 4): POST /v1/otp "
          "(random numbers), channel = whatsapp,")
    print("mock Graph API answering every message after %.0f ms (in this "
          "process), timeout_ms 5000, retries 0, every limit off;" %
          (1000 * WA_DELAY))
    print("otp.fcgi behind its own lighttpd, 4 FastCGI threads (default), "
          "--threads 64 and 256 (these with GLIBC_TUNABLES=%s);" %
          MANY_THREADS_TUNABLES)
    print("\"https\": %d threads sending through nghttpx (HTTPS, HTTP/2, "
          "TLS verified against its certificate) to the same mock;" %
          WA_TLS_THREADS)
    print("wrk -t%d -d%ds --timeout %ds --latency" %
          (WRK_THREADS, SECONDS, WA_WRK_TIMEOUT))
    print()
    hdr = "%-9s %5s %8s %8s %8s %7s %6s %8s %8s %6s %s" % (
        "threads", "conns", "sends/s", "p50 ms", "p99 ms", "non-2xx",
        "errors", "mock/s", "ceiling", "after", "graph conns")
    print(hdr)
    print("-" * len(hdr))
    for row in wa["rows"]:
        r = row["r"]
        print("%-9s %5d %8.1f %8s %8s %7d %6d %8.1f %8.0f %6d %s" % (
            row["name"], row["conns"], row["sends"], fmt_ms(r["p50_us"]),
            fmt_ms(r["p99_us"]), r["non2xx"], r["errors"], row["mock_rate"],
            row["ceiling"], row["after"],
            "-" if row["graph_conns"] is None else row["graph_conns"]))
    print()
    best = max(wa["rows"], key=lambda x: x["sends"])
    ok = best["sends"] >= WA_TARGET
    print("target %.0f sends/s (WhatsApp's top tier, per number): %s; "
          "best %.1f sends/s (%s threads, -c%d)" % (
              WA_TARGET, "met" if ok else "MISSED", best["sends"],
              best["name"], best["conns"]))
    print("limit: each FastCGI thread serves one request at a time and "
          "blocks for the whole send, so the ceiling is threads / %.1f s:" %
          WA_DELAY)
    print("  %s; %.0f/s needs %.0f sends in flight, so as many threads "
          "(otp.fcgi --threads, at most 512)." % (
              ", ".join("%d threads -> %.0f/s" % (t, t / WA_DELAY)
                        for t in WA_FRONTS),
              WA_TARGET, WA_TARGET * WA_DELAY))
    missed = [] if ok else ["whatsapp sends/s"]
    peak = max(f["hwm"] for f in wa["fronts"]) / 1024.0
    if peak >= RSS_TARGET_MB:
        missed.append("whatsapp RSS")
    print("peak RSS (VmHWM) otp.fcgi: %s; target < %.0f MB: %s" % (
        ", ".join("%s threads %.1f MB (pid %d)" % (
            f["name"], f["hwm"] / 1024.0, f["pid"])
            for f in wa["fronts"]),
        RSS_TARGET_MB, "ok" if peak < RSS_TARGET_MB else "MISSED"))
    print("columns: sends/s = 2xx answers / wrk's run time; p50/p99 from "
          "wrk --latency; errors = socket errors and answers after %d s;"
          % WA_WRK_TIMEOUT)
    print("  mock/s = messages the mock received from wrk's start to its "
          "exit / that wall time, so it also counts")
    print("  the sends still in flight when wrk stopped, whose answers "
          "wrk never saw; ceiling = threads / %.1f s;" % WA_DELAY)
    print("  after = messages the service sent once wrk had stopped: "
          "requests wrk left queued are sent all the same;")
    print("  graph conns = otp.fcgi's TCP connections to nghttpx halfway "
          "through the run: the sends share them as HTTP/2 streams.")
    few = sorted(set(r["conns"] for r in wa["rows"]
                     if r["conns"] < r["threads"]))
    if few:
        print("  with fewer connections than threads, wrk's closed loop "
              "is the bound instead: conns / %.1f s = %s." % (
                  WA_DELAY, ", ".join("%.0f/s at -c%d" % (c / WA_DELAY, c)
                                      for c in few)))
    for row in wa["rows"]:
        wait = row["conns"] / row["ceiling"]
        if wait > SECONDS / 2.0:
            print("  %d threads -c%d: at the ceiling the queue alone is "
                  "%.1f s against a %d s run: p50/p99 are of a queue "
                  "still filling, not its steady state." % (
                      row["threads"], row["conns"], wait, SECONDS))
    for n in wa["notes"]:
        print("  " + n)
    return missed


def main():
    t0 = time.time()
    for prog in (OTP_FCGI, OTPCTL, TRIVIAL):
        if not os.access(prog, os.X_OK):
            raise BenchError("%s missing: run make bench" % prog)
    if shutil.which("wrk") is None or shutil.which("lighttpd") is None:
        raise BenchError("wrk and lighttpd are needed (apt-get install "
                         "wrk lighttpd)")
    # Keep only the latest run's folder (configuration, logs, database).
    if os.path.isdir(BENCH_OUT):
        for old in os.listdir(BENCH_OUT):
            if old.startswith("run-"):
                shutil.rmtree(os.path.join(BENCH_OUT, old),
                              ignore_errors=True)
    os.makedirs(BENCH_OUT, exist_ok=True)
    d = tempfile.mkdtemp(prefix="run-", dir=BENCH_OUT)
    log("folder %s; wrk -t%d -c%d -d%ds" % (os.path.relpath(d, TOP),
                                            WRK_THREADS, WRK_CONNS, SECONDS))
    conf_path, console, key, env = make_service(d)
    servers = []
    rows = []
    notes = []
    try:
        triv = Lighttpd("trivial", d, trivial_conf(d))
        servers.append(triv)
        triv.start()
        svc = Lighttpd("otp", d, otp_conf(d, conf_path), env=env)
        servers.append(svc)
        svc.start()
        log("trivial on port %d, otp.fcgi on port %d" %
            (triv.port, svc.port))

        # A quick sanity check that the service answers what we measure.
        st, body = http_request(svc.port, "POST", "/v1/otp",
                                {"phone": "+9647700000001"}, key)
        if st != 201:
            raise BenchError("POST /v1/otp: %d %s" % (st, body))

        def pair(label, target, path, script, args=(), conns=None,
                 seconds=None, svc_args=None, triv_args=None, again=None):
            # Service, trivial, trivial, service, each half the time:
            # a machine getting slower or faster through the pair moves
            # both sides alike.  again: the service's arguments for its
            # second half (default: the same), or a function of the
            # first half's result that gives them.  A burst (seconds given)
            # runs once each.
            sa, ta = svc_args or args, triv_args or args
            if seconds is not None:
                s = wrk(svc.port, path, script, sa, conns, seconds)
                t = wrk(triv.port, path, script, ta, conns, seconds)
            else:
                half = max(1, SECONDS // 2)
                s1 = wrk(svc.port, path, script, sa, conns, half)
                t1 = wrk(triv.port, path, script, ta, conns, half)
                t2 = wrk(triv.port, path, script, ta, conns, half)
                if callable(again):
                    again = again(s1)
                s2 = wrk(svc.port, path, script, again or sa, conns, half)
                s, t = combine(s1, s2), combine(t1, t2)
            row = {"label": label, "target": target, "svc": s, "triv": t,
                   "ratio": s["rps"] / t["rps"]}
            rows.append(row)
            log("%-28s %8.0f req/s vs trivial %8.0f  ratio %.2f  "
                "non-2xx %d" % (label, s["rps"], t["rps"], row["ratio"],
                                s["non2xx"]))
            for b in s["bad"]:
                notes.append("%s: unexpected answers: %s" % (label, b[:600]))
            if s["errors"] or t["errors"]:
                notes.append("%s: socket errors service %d, trivial %d" %
                             (label, s["errors"], t["errors"]))
            return row

        seed = int(time.time())
        lua_h = write_lua(d, "healthz", LUA_HEALTHZ, key)
        lua_s = write_lua(d, "send", LUA_SEND, key)
        lua_c = write_lua(d, "cycle", LUA_CYCLE, key)
        lua_cd = write_lua(d, "cycle-delay", LUA_CYCLE, key,
                           LUA_DELAY_FIXED if PAUSE_FIXED else LUA_DELAY)
        lua_b = write_lua(d, "burst", LUA_CYCLE, key, LUA_BURST)

        # Warm both up (first connections, page cache, CPU clocks).
        for srv in (svc, triv):
            wrk(srv.port, "/healthz", lua_h, seconds=1)
        pair("GET /healthz", None, "/healthz", lua_h)
        pair("POST /v1/otp (send)", TARGETS["send"], "/v1/otp",
             lua_s, svc_args=[seed], triv_args=[seed + 1], again=[seed + 2])

        # The OTPs the send run made: half for wrong codes, half kept
        # untouched for right codes.  Status reads use all of them.
        pairs = console_pairs(console)[1:]  # [0] is the sanity check
        if len(pairs) < 4 * WRK_CONNS:
            raise BenchError("only %d OTPs were created" % len(pairs))
        wrong = [(i, otptest.wrong_code(c)) for i, c in pairs[0::2]]
        right = pairs[1::2]
        f_all = write_ids(d, "ids-all.txt", pairs)
        f_wrong = write_ids(d, "ids-wrong.txt", wrong)
        log("%d OTPs created by the send run: %d for wrong codes, %d kept for "
            "right codes" % (len(pairs), len(wrong), len(right)))

        pair("GET /v1/otp/{id}", TARGETS["status"], "/v1/otp/x", lua_c,
             args=["status", f_all])
        vw = pair("POST /v1/otp/verify wrong", TARGETS["verify"],
                  "/v1/otp/verify", lua_c, args=["verify", f_wrong, 0, 0],
                  again=lambda s1: ["verify", f_wrong, 0, s1["requests"]])
        wrong_sent = vw["svc"]["requests"]
        capacity = 10 * len(wrong)

        # Right codes: each approves once, then is 409, so each is sent
        # exactly once (a burst, timed by the script itself), about 1.5 s
        # worth at the wrong-code rate.
        right = right[:max(4 * WRK_CONNS, int(1.5 * vw["svc"]["rps"]))]
        f_right = write_ids(d, "ids-right.txt", right)
        secs = max(2, min(60, int(math.ceil(2 * len(right) /
                                             vw["svc"]["rps"])) + 1))
        vr = pair("POST /v1/otp/verify right", TARGETS["verify"],
                  "/v1/otp/verify", lua_b, args=["verify", f_right],
                  seconds=secs)
        for side in ("svc", "triv"):
            if not vr[side]["burst_complete"]:
                raise BenchError("right-code burst did not finish in %d s "
                                 "(%s)" % (secs, side))
        vr["note"] = "burst of %d unique codes, %.2f s vs %.2f s" % (
            vr["svc"]["burst_n"], vr["svc"]["burst_s"],
            vr["triv"]["burst_s"])

        # Latency at about half the wrong-code maximum: connections that
        # each pause between requests (wrk's delay(); LUA_DELAY), on
        # average PAUSE ms, so the
        # offered rate is about conns * 1000 / (PAUSE + latency + wrk's
        # own timer slack).  Latency and slack are not known in advance:
        # a 2 s probe at a guess (3 ms for both) sets the connections.
        half = vw["svc"]["rps"] / 2
        pause = 10

        def even_conns(n):
            n = int(round(n / WRK_THREADS))
            return max(1, min(256 // WRK_THREADS, n)) * WRK_THREADS

        lconns = even_conns(half * (pause + 3) / 1000)
        probe = wrk(svc.port, "/v1/otp/verify", lua_cd,
                    ["verify", f_wrong, pause, wrong_sent], lconns, 2)
        wrong_sent += probe["requests"]
        lconns = even_conns(lconns * half / probe["rps"])
        vl = pair("verify wrong @ ~half load", None, "/v1/otp/verify",
                  lua_cd, args=["verify", f_wrong, pause, wrong_sent],
                  conns=lconns,
                  again=lambda s1: ["verify", f_wrong, pause,
                                    wrong_sent + s1["requests"]])
        vl["p99_target"] = True
        vl["note"] = "%d conns, %s %d ms pause: %.0f%% of max" % (
            lconns, "fixed" if PAUSE_FIXED else "random, mean", pause,
            100 * vl["svc"]["rps"] / vw["svc"]["rps"])
        wrong_sent += vl["svc"]["requests"]

        # Peak RSS of the service's processes, while they still run.
        svc.remember_kids()
        rss = []
        for pid, cl in svc.kids:
            if "cgi-bin/otp.fcgi" in cl:
                hwm = proc_status(pid, "VmHWM")
                if hwm is not None:
                    rss.append((pid, hwm))
        if not rss:
            raise BenchError("no otp.fcgi process found under lighttpd")
        triv.remember_kids()
        triv_rss = [proc_status(p, "VmHWM") or 0 for p, c in triv.kids
                    if "trivial.fcgi" in c]

        # What the verify runs did to the OTPs (read-only).
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "otp.db"),
                             uri=True, timeout=10)
        states = dict(db.execute(
            "SELECT status, count(*) FROM otp GROUP BY status").fetchall())
        db.close()

        # lighttpd's log: anything the service complained about.
        errs = [line for line in svc.log().splitlines()
                if re.search(r"\b(error|fatal|abort)", line, re.I)]
    finally:
        for s in servers:
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                print("bench: stopping %s: %s" % (s.name, e),
                      file=sys.stderr)

    # Sends through a slow WhatsApp, with the services above stopped.
    # If it cannot be measured, the numbers above are still printed.
    try:
        wa, wa_error = whatsapp_bench(d), None
    except BenchError as e:
        wa, wa_error = None, str(e)

    # --- report -------------------------------------------------------
    print()
    print("Baghdad OTP benchmark: release otp.fcgi vs trivial.fcgi, both "
          "behind lighttpd, %d FastCGI threads each" % FCGI_THREADS)
    print("wrk -t%d -c%d --latency, 127.0.0.1; %d CPUs; each pair "
          "measured service, trivial, trivial, service, %d s each" %
          (WRK_THREADS, WRK_CONNS, os.cpu_count() or 0,
           max(1, SECONDS // 2)))
    print("(p50/p99: the larger of the two halves; the right-code burst "
          "runs once each)")
    print()
    hdr = "%-28s %9s %9s %6s %8s %8s %8s %6s  %s" % (
        "endpoint", "svc req/s", "triv req/s", "ratio", "p50 ms", "p99 ms",
        "non-2xx", "steal", "target")
    print(hdr)
    print("-" * len(hdr))
    failed_targets = []
    for r in rows:
        s, t = r["svc"], r["triv"]
        if r["target"] is not None:
            ok = r["ratio"] >= r["target"]
            tgt = "ratio >= %.1f: %s" % (r["target"], "ok" if ok else "MISSED")
            if not ok:
                failed_targets.append(r["label"])
        elif r.get("p99_target"):
            ok = s["p99_us"] < P99_TARGET_MS * 1000
            tgt = "p99 < %.0f ms: %s" % (P99_TARGET_MS,
                                         "ok" if ok else "MISSED")
            if not ok:
                failed_targets.append(r["label"] + " p99")
        else:
            tgt = "(baseline)"
        print("%-28s %9.0f %9.0f %6.2f %8s %8s %8d %5.0f%%  %s" % (
            r["label"], s["rps"], t["rps"], r["ratio"], fmt_ms(s["p50_us"]),
            fmt_ms(s["p99_us"]), s["non2xx"], 100 * s["steal"], tgt))
        print("%-28s %9s %9s %6s %8s %8s %8d %5.0f%%  %s" % (
            "", "", "(trivial)", "", fmt_ms(t["p50_us"]),
            fmt_ms(t["p99_us"]), t["non2xx"], 100 * t["steal"],
            r.get("note", "")))
    print()
    peak = max(h for _, h in rss) / 1024.0
    ok = peak < RSS_TARGET_MB
    if not ok:
        failed_targets.append("RSS")
    print("peak RSS (VmHWM) otp.fcgi: %s; trivial.fcgi: %s  "
          "target < %.0f MB: %s" % (
              ", ".join("pid %d %.1f MB" % (p, h / 1024.0) for p, h in rss),
              ", ".join("%.1f MB" % (h / 1024.0) for h in triv_rss) or "?",
              RSS_TARGET_MB, "ok" if ok else "MISSED"))
    print()
    print("notes:")
    print("  send: channel = console (one append to a file per OTP), "
          "every limit off.")
    print("  verify wrong: %d checks on %d OTPs (10 attempts each, %d in "
          "all), each run going on where the last stopped; were an OTP's "
          "attempts used up, the answer would be 409 otp_not_pending, "
          "counted in non-2xx." %
          (wrong_sent, len(wrong), capacity))
    print("  verify right: %s (service vs trivial); each code is checked "
          "once and approved; req/s = answers / burst time." % vr["note"])
    print("  half load: %s; p50/p99 from wrk --latency (closed loop with "
          "a pause, not a constant-rate generator like wrk2; random pauses "
          "are exponential, BENCH_PAUSE=fixed for a fixed one)." % vl["note"])
    print("  steal: the share of the VM's CPU time its hypervisor gave to "
          "others during that wrk run (/proc/stat);")
    print("    a shared host makes ratios and p99 move from run to run "
          "whatever the code does.")
    print("  OTP states at the end: %s" % ", ".join(
        "%s %d" % kv for kv in sorted(states.items())))
    for n in notes:
        print("  " + n)
    if errs:
        print("  lighttpd/otp.fcgi log lines with errors: %d, e.g. %s" %
              (len(errs), errs[0][:200]))
    print()
    if wa is not None:
        failed_targets += whatsapp_report(wa)
    if failed_targets:
        print()
        print("targets missed: " + ", ".join(failed_targets))
    print()
    print("bench: done in %.0f s; files in %s" % (time.time() - t0,
                                                os.path.relpath(d, TOP)))
    if wa_error is not None:
        print("bench: FAILED: sends through the WhatsApp mock: %s" %
              wa_error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench: FAILED: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
