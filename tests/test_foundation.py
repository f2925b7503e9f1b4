"""The foundation: routing, problem documents, headers, the front's modes
(FastCGI spawned by lighttpd, --listen, --threads 1, plain CGI), -n,
otpctl, and the WAL checkpoints of a server."""

import contextlib
import os
import random
import re
import shutil
import sqlite3
import stat
import subprocess
import threading
import time

import otptest
from otptest import (FCGI, OTPCTL, Service, children_of, code_for, expect,
                     expect_problem, fcgi_record, fcgi_request, free_port,
                     run_cgi, sanitizer_env, wait_for_listener, write_conf,
                     merge, BASE_CONF, OUT, TOP, assert_no_sanitizer_reports)

svc = None


def setup_module():
    global svc
    svc = Service("foundation")


def teardown_module():
    svc.stop()


def test_healthz():
    r = svc.get("/healthz")
    expect(r.status == 200, "%r", r)
    expect(r.json() == {"status": "ok"}, "%r", r)
    expect(r.header("Content-Type") == "application/json; charset=utf-8")
    expect(r.header("Cache-Control") == "no-store")
    expect(r.header("X-Content-Type-Options") == "nosniff")
    expect(r.header("Strict-Transport-Security") is None,
           "HSTS over plain HTTP")


def test_head_has_no_body():
    r = svc.request("HEAD", "/healthz")
    expect(r.status == 200 and r.body == "", "%r", r)


def test_query_does_not_change_route():
    expect(svc.get("/healthz?x=1").status == 200)


def test_unknown_route_is_404():
    for path in ("/", "/nope", "/healthz/", "/v2/otp", "/" + "a" * 600):
        expect_problem(svc.get(path), 404, "not_found")


def test_wrong_method_is_405_with_allow():
    r = svc.request("PUT", "/healthz", body="{}")
    d = expect_problem(r, 405, "method_not_allowed")
    expect(r.header("Allow") == "GET, HEAD", "Allow %r", r.header("Allow"))
    r = svc.request("DELETE", "/healthz")
    expect_problem(r, 405, "method_not_allowed")


def test_oversized_body_is_413():
    r = svc.post("/healthz", body="x" * (16 * 1024 + 1))
    expect_problem(r, 413, "body_too_large")


def test_log_lines_have_utc_time_and_function():
    svc.request("PUT", "/healthz")
    lines = [l for l in svc.log().splitlines() if "otp.fcgi" in l]
    expect(lines, "no log line from otp.fcgi")
    expect(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ otp.fcgi info: "
                    r"main: serving FastCGI", lines[0]), "%r", lines[0])


def test_require_https_refuses_plain_http():
    s = Service("https", conf={
        "service": {"require_https": "yes"},
        "whatsapp": {"channel": "whatsapp", "phone_number_id": "1234",
                     "api_base": "http://127.0.0.1:9"}})
    try:
        expect_problem(s.get("/healthz"), 403, "https_required")
        expect_problem(s.post("/v1/otp", body={"phone": "+9647701234567"}),
                       403, "https_required")
    finally:
        s.stop()


def cgi_conf(name, over=None):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    conf = os.path.join(d, "otp.conf")
    write_conf(conf, merge(merge(BASE_CONF, {
        "service": {"database": os.path.join(d, "otp.db"),
                    "secrets": os.path.join(d, "secrets"),
                    "require_https": "yes"},
        "whatsapp": {"channel": "whatsapp", "phone_number_id": "1234"}}),
        over))
    subprocess.run([OTPCTL, "-c", conf, "init"], check=True,
                   capture_output=True)
    return d, conf


def test_plain_cgi_over_https_sends_hsts():
    d, conf = cgi_conf("cgi")
    env = dict(sanitizer_env(d), REQUEST_METHOD="GET",
               REQUEST_URI="/healthz", HTTPS="on")
    rc, status, headers, body, err = run_cgi(conf, env)
    h = dict(headers)
    expect(rc == 0 and status == 200, "%d %d %r %r", rc, status, body, err)
    expect(body == '{"status":"ok"}', "%r", body)
    expect(h.get("Strict-Transport-Security") ==
           "max-age=31536000; includeSubDomains", "%r", h)
    env["HTTPS"] = "off"
    rc, status, headers, body, err = run_cgi(conf, env)
    expect(status == 403 and "https_required" in body, "%d %r", status, body)
    # SCRIPT_NAME + PATH_INFO when there is no REQUEST_URI (mod_cgi).
    env = dict(sanitizer_env(d), REQUEST_METHOD="GET", SCRIPT_NAME="",
               PATH_INFO="/healthz", HTTPS="on")
    rc, status, headers, body, err = run_cgi(conf, env)
    expect(status == 200, "%d %r", status, body)
    assert_no_sanitizer_reports(d)


def test_healthz_503_when_database_is_unusable():
    d, conf = cgi_conf("cgi-nodb")
    os.remove(os.path.join(d, "otp.db"))
    os.makedirs(os.path.join(d, "otp.db"))     # a folder, not a database
    env = dict(sanitizer_env(d), REQUEST_METHOD="GET",
               REQUEST_URI="/healthz", HTTPS="on")
    rc, status, headers, body, err = run_cgi(conf, env)
    expect(status == 503 and '"service_unavailable"' in body,
           "%d %r", status, body)
    assert_no_sanitizer_reports(d)


def check_config(conf):
    return subprocess.run([FCGI, "-n", "-c", conf], capture_output=True,
                          text=True, env=dict(os.environ,
                                              **sanitizer_env(OUT)))


def test_dash_n_checks_configuration():
    d, conf = cgi_conf("check")
    p = check_config(conf)
    expect(p.returncode == 0 and "configuration ok" in p.stdout, "%r", p)
    bad = os.path.join(d, "bad.conf")
    with open(conf) as f, open(bad, "w") as g:
        g.write(f.read().replace("[otp]\n", "[otp]\ncode_length = 11\n"))
    p = check_config(bad)
    expect(p.returncode == 1, "%r", p)
    expect(re.search(r"bad\.conf:\d+: code_length: ", p.stderr), "%r",
           p.stderr)
    with open(bad, "w") as g:
        g.write("[service]\nnmae = x\n")
    p = check_config(bad)
    expect(p.returncode == 1 and "bad.conf:2: nmae: unknown key" in p.stderr,
           "%r", p.stderr)
    # OTP_CONFIG is used when there is no -c.
    p = subprocess.run([FCGI, "-n"], capture_output=True, text=True,
                       env=dict(os.environ, OTP_CONFIG=conf))
    expect(p.returncode == 0, "%r", p)


def test_secrets_readable_by_others_are_refused():
    d, conf = cgi_conf("secrets-mode")
    secrets = os.path.join(d, "secrets")
    expect(stat.S_IMODE(os.stat(secrets).st_mode) == 0o600,
           "secrets mode %o", os.stat(secrets).st_mode)
    os.chmod(secrets, 0o640)
    p = check_config(conf)
    expect(p.returncode == 1 and "readable by group or others" in p.stderr,
           "%r", p)
    os.chmod(secrets, 0o600)
    expect(check_config(conf).returncode == 0)


def test_listen_mode_with_threads():
    d, conf = cgi_conf("listen", {"service": {"require_https": "no"},
                                  "whatsapp": {"channel": "console",
                                               "console_file": "/dev/null"}})
    sock = os.path.join(d, "otp.sock")
    env = dict(os.environ, **sanitizer_env(d))
    fcgi = subprocess.Popen([FCGI, "-c", conf, "--listen", sock,
                             "--threads", "3"], env=env,
                            stderr=subprocess.PIPE)
    port = free_port()
    lconf = os.path.join(d, "lighttpd.conf")
    with open(lconf, "w") as f:
        f.write('server.document-root = "%s/www"\nserver.bind = "127.0.0.1"\n'
                'server.port = %d\nserver.errorlog = "%s/error.log"\n'
                'server.modules += ("mod_fastcgi")\n'
                'fastcgi.server = ("/" => (("socket" => "%s", '
                '"check-local" => "disable", '
                '"fix-root-scriptname" => "enable")))\n'
                % (TOP, port, d, sock))
    for _ in range(100):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    web = subprocess.Popen(["lighttpd", "-D", "-f", lconf])
    try:
        import http.client
        ok = False
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                r = c.getresponse()
                ok = r.status == 200 and r.read() == b'{"status":"ok"}'
                break
            except OSError:
                time.sleep(0.05)
        expect(ok, "no answer through --listen")
    finally:
        web.terminate()
        web.wait()
        fcgi.terminate()
        fcgi.wait()
    assert_no_sanitizer_reports(d)


@contextlib.contextmanager
def one_worker(name, tcp=False):
    """otp.fcgi --listen with one thread, on a unix socket or a loopback
    TCP port: yields its address; stopped and checked for sanitizer
    reports on the way out."""
    d, conf = cgi_conf(name, {"service": {"require_https": "no"},
                              "whatsapp": {"channel": "console",
                                           "console_file": "/dev/null"}})
    addr = ("127.0.0.1", free_port()) if tcp else os.path.join(d, "otp.sock")
    fcgi = subprocess.Popen([FCGI, "-c", conf, "--listen",
                             "%s:%d" % addr if tcp else addr,
                             "--threads", "1"],
                            env=dict(os.environ, **sanitizer_env(d)))
    try:
        wait_for_listener(addr)
        yield addr
    finally:
        fcgi.terminate()
        fcgi.wait()
    assert_no_sanitizer_reports(d)


def healthz_answered(addr):
    """Ask the worker at addr for /healthz: the time it answered."""
    c, out = fcgi_request(addr, {"REQUEST_METHOD": "GET",
                                 "REQUEST_URI": "/healthz"})
    c.close()
    expect(out.endswith(b'{"status":"ok"}'), "%r", out)
    return time.monotonic()


def test_a_worker_is_free_once_it_has_answered():
    """Once it has answered a request whose stdin has ended, a worker
    closes the connection at once: it does not wait for the web server to
    close its end (libfcgi's own close would, for 2 s), over a unix socket
    or TCP, and the answer arrives whole."""
    requests = (({"REQUEST_METHOD": "GET", "REQUEST_URI": "/healthz"}, b""),
                ({"REQUEST_METHOD": "POST", "REQUEST_URI": "/v1/otp",
                  "CONTENT_TYPE": "application/json",
                  "CONTENT_LENGTH": "2"}, b"{}"))
    for tcp in (False, True):
        with one_worker("finish", tcp) as addr:
            for params, body in requests:
                a, out = fcgi_request(addr, params, body)
                expect(out.startswith((b"Status: 200", b"Status: 401")),
                       "%r", out[:80])
                # a stays open: the one worker must answer at once all
                # the same.
                t0 = time.monotonic()
                took = healthz_answered(addr) - t0
                expect(took < 0.5, "the worker waited %.2f s after %s",
                       took, params["REQUEST_METHOD"])
                expect(a.recv(1) == b"", "no clean end of the connection")
                a.close()


def test_a_worker_never_waits_for_a_body_still_arriving():
    """A request whose stdin has not ended (a body streamed without a
    length, one not started yet, or one longer than the limit) is
    answered at once, and its worker is free again within libfcgi's
    bounded close (2 s), however long the client takes."""
    post = {"REQUEST_METHOD": "POST", "REQUEST_URI": "/v1/otp",
            "CONTENT_TYPE": "application/json"}
    with one_worker("unfinished", tcp=True) as addr:
        for params, body, status in (
                (post, b"{" * 1000, b"Status: 401"),
                (post, b"", b"Status: 401"),
                ({"REQUEST_METHOD": "GET", "REQUEST_URI": "/healthz"}, b"",
                 b"Status: 200"),
                (dict(post, CONTENT_LENGTH="9999999"), b"{" * 1000,
                 b"Status: 413")):
            t0 = time.monotonic()
            a, out = fcgi_request(addr, params, body, end=False)
            took = time.monotonic() - t0
            expect(out.startswith(status), "%r", out[:80])
            expect(took < 0.5, "answered after %.2f s", took)
            # More of the body, as a web server still passing it on would
            # send: it is read and dropped, not answered with a reset.
            for _ in range(2):
                a.sendall(fcgi_record(5, b"{" * 1000))
                time.sleep(0.2)
            expect(a.recv(1) == b"", "no clean end of the connection")
            took = healthz_answered(addr) - t0
            expect(took < 3.5, "the worker was held %.2f s", took)
            a.close()


def test_otpctl_apps_keys_and_audit():
    app, key = svc.create_app("shop")
    expect(re.fullmatch(r"app_[0-9a-f]{32}", app), "%r", app)
    expect(re.fullmatch(r"botp_[0-9a-f]{48}", key), "%r", key)
    p = svc.otpctl("app", "create", "plain")
    m = re.fullmatch(r"app_id: (app_[0-9a-f]{32})\napi_key: (botp_[0-9a-f]{48})\n",
                     p.stdout)
    expect(m, "%r", p.stdout)
    lst = svc.otpctl("app", "list").stdout
    expect(app in lst and "shop" in lst and "enabled" in lst, "%r", lst)
    svc.otpctl("app", "disable", app)
    expect(re.search(app + r"\tdisabled", svc.otpctl("app", "list").stdout))
    svc.otpctl("app", "enable", app)
    p = svc.otpctl("key", "rotate", app)
    newkey = re.search(r"api_key: (\S+)", p.stdout).group(1)
    expect(newkey != key)
    p = svc.otpctl("app", "disable", "app_nope", check=False)
    expect(p.returncode == 1 and "no such application" in p.stderr, "%r", p)
    audit = svc.otpctl("audit").stdout
    for action in ("init", "app.create", "app.disable", "app.enable",
                   "key.rotate"):
        expect(action in audit, "%s not audited: %r", action, audit)
    # Keys are stored only as keyed hashes.
    for path in ("otp.db", "otp.db-wal"):
        f = os.path.join(svc.dir, path)
        if os.path.exists(f):
            data = open(f, "rb").read()
            for k in (key, newkey, m.group(2)):
                expect(k.encode() not in data and
                       k[5:].encode() not in data, "key in %s", path)
    expect(key not in audit and newkey not in audit)


def test_wal_is_checkpointed_while_writers_go_on():
    """Requests do not checkpoint: a thread of the server does, and it
    must keep the WAL from growing while writers never stop (a PASSIVE
    checkpoint alone never catches up with them)."""
    s = Service("checkpoint", conf={"limits": {
        "sends_per_phone_hour": 0, "sends_per_phone_day": 0,
        "sends_per_app_minute": 0, "sends_per_ip_minute": 0},
        "otp": {"resend_cooldown": 0}})
    try:
        _, key = s.create_app()
        db = os.path.join(s.dir, "otp.db")
        bad = []

        def send(n):
            rnd = random.Random(n)
            for _ in range(n):
                phone = "+9647%09d" % rnd.randrange(10 ** 9)
                r = s.post("/v1/otp", {"phone": phone}, key=key)
                answered.append(r)
                if r.status != 201:
                    bad.append(r)
        answered = []
        first = s.post("/v1/otp", {"phone": "+9647700000001"}, key=key)
        done = []

        def read():
            # Readers hold read marks that can keep the WAL from
            # starting over.
            while not done:
                r = s.get("/v1/otp/" + first.json()["id"], key=key)
                if r.status != 200:
                    bad.append(r)
        threads = [threading.Thread(target=send, args=(200 + i,))
                   for i in range(6)]
        readers = [threading.Thread(target=read) for _ in range(2)]
        for t in threads + readers:
            t.start()
        for t in threads:
            t.join()
        done.append(1)
        for t in readers:
            t.join()
        expect(not bad, "%r", bad[:3])
        expect(len(answered) == sum(range(200, 206)), "%d sends answered",
               len(answered))
        # Unchecked, each send leaves about 39 KB of WAL: some 47 MB here.
        # Checkpoints start at 1,000 pages (4 MB).
        wal = os.path.getsize(db + "-wal")
        expect(wal < 16 << 20, "WAL of %d bytes", wal)
        # 1,216 OTPs are about 0.7 MB: most of it copied to the file.
        expect(os.path.getsize(db) > 384 << 10,
               "%d bytes in the database file", os.path.getsize(db))
        c = sqlite3.connect(db)
        n = c.execute("SELECT count(*) FROM otp").fetchone()[0]
        c.close()
        expect(n == 1 + sum(range(200, 206)), "%d OTPs", n)
        expect("checkpoint" not in s.log(), s.log())
    finally:
        s.stop()


def test_a_failing_disk_sync_stops_the_process_and_loses_nothing():
    """When a checkpoint's sync of the database fails (EIO, from
    tests/build/failsync.so preloaded into otp.fcgi), the process says so
    and exits at once, without closing the database: a later sync could
    succeed with the pages lost, and the WAL that still holds them would
    start over.  lighttpd starts it again; once the disk is back, every
    OTP that was answered 201 is in the database, which is sound."""
    name = "failsync"
    db = os.path.join(OUT, name, "otp.db")
    failing = os.path.join(OUT, name + "-failing")
    wrapper = os.path.join(OUT, name + ".sh")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nASAN_OPTIONS="$ASAN_OPTIONS:'
                'verify_asan_link_order=0" LD_PRELOAD=%s FAILSYNC_WHILE=%s '
                'FAILSYNC_SUFFIX=%s exec %s "$@"\n' % (
                    os.path.join(TOP, "tests", "build", "failsync.so"),
                    failing, os.path.realpath(db), FCGI))
    os.chmod(wrapper, 0o755)
    otptest.FCGI = wrapper
    try:
        s = Service(name, conf={"limits": {
            "sends_per_phone_hour": 0, "sends_per_phone_day": 0,
            "sends_per_app_minute": 0, "sends_per_ip_minute": 0},
            "otp": {"resend_cooldown": 0}})
    finally:
        otptest.FCGI = FCGI
    died = "the disk failed; exiting"
    try:
        _, key = s.create_app()
        first = children_of(s.proc.pid)
        created, bad = [], []
        disk_back = False

        def sends(seed, until):
            rnd = random.Random(seed)
            while not until():
                r = s.post("/v1/otp", {"phone": "+9647%09d" %
                                       rnd.randrange(10 ** 9)}, key=key)
                if r.status == 201:
                    created.append(r.json()["id"])
                elif not lighttpd_down(r):
                    bad.append(r)

        def lighttpd_down(r):
            # lighttpd's own answer while its backend is dead or being
            # started again: 500 or 503, not a problem document.
            return (not disk_back and r.status in (500, 503) and
                    "problem" not in (r.header("Content-Type") or ""))

        open(failing, "w").close()
        deadline = time.time() + 30
        threads = [threading.Thread(target=sends, args=(i, lambda: (
            died in s.log() or time.time() > deadline))) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(died in s.log(), s.log()[-2000:])
        expect(not bad, "%r", bad[:3])
        expect(created, "no OTP created before the disk failed")
        os.unlink(failing)
        time.sleep(0.5)     # a sync under way when the disk came back

        # lighttpd starts otp.fcgi again at the next request.
        deadline = time.time() + 10
        while time.time() < deadline and s.get("/healthz").status != 200:
            time.sleep(0.1)
        expect(children_of(s.proc.pid) != first, "same process %r", first)
        n = len(created)
        disk_back = True    # from here on every send must be a 201
        deadline = time.time() + 30
        sends(100, lambda: (len(created) >= n + 200 or bad or
                            time.time() > deadline))
        expect(len(created) >= n + 200, "%d sends", len(created) - n)
        expect(not bad, "%r", bad[:3])
    finally:
        s.stop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(failing)
    c = sqlite3.connect(db)
    expect(c.execute("PRAGMA integrity_check").fetchone()[0] == "ok",
           "integrity_check")
    have = {r[0] for r in c.execute("SELECT id FROM otp")}
    c.close()
    lost = [i for i in created if i not in have]
    expect(not lost, "%d of %d OTPs answered 201 are gone: %r",
           len(lost), len(created), lost[:3])


def test_the_service_threads_run_as_sched_batch():
    """Every thread of otp.fcgi runs SCHED_BATCH, so that a worker woken
    by a connection does not preempt the web server's event loop; the
    web server itself keeps the default policy."""
    s = Service("sched-batch")
    try:
        expect(s.get("/healthz").status == 200)
        kids = children_of(s.proc.pid)
        expect(len(kids) == 1, "lighttpd's children: %r", kids)
        tids = [int(t) for t in os.listdir("/proc/%d/task" % kids[0])]
        policies = {t: os.sched_getscheduler(t) for t in tids}
        expect(len(tids) >= 2 and
               set(policies.values()) == {os.SCHED_BATCH}, "%r", policies)
        expect(os.sched_getscheduler(s.proc.pid) == os.SCHED_OTHER,
               "lighttpd: %d", os.sched_getscheduler(s.proc.pid))
    finally:
        s.stop()


def test_one_thread_reads_and_writes_on_one_connection():
    """--threads 1: a pool of one connection, writer and reader at once,
    beside the checkpointer's."""
    s = Service("one-thread", args=" --threads 1",
                conf={"otp": {"resend_cooldown": 0}})
    try:
        _, key = s.create_app()
        out = []

        def create(i):
            out.append(s.post("/v1/otp", {"phone": "+96477000001%02d" % i},
                              key=key))
        threads = [threading.Thread(target=create, args=(i,))
                   for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expect(sorted(r.status for r in out) == [201] * 6,
               "%r", out)
        oid = out[0].json()["id"]
        code = code_for(s, oid)
        r = s.post("/v1/otp/verify", {"id": oid, "code": code}, key=key)
        expect(r.json()["status"] == "approved", "%r", r)
        expect(s.get("/v1/otp/" + oid, key=key).json()["status"] ==
               "approved")
        with open("/proc/%d/task/%d/children" % (s.proc.pid, s.proc.pid)) as f:
            kid = int(f.read().split()[0])
        with open("/proc/%d/status" % kid) as f:
            n = [l.split()[1] for l in f if l.startswith("Threads:")]
        expect(n == ["3"], "threads %r: main, one worker, the checkpointer",
               n)
    finally:
        s.stop()
