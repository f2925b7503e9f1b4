"""otp-purge (API.md section 6, [retention]): each retention rule at its
edge with the clock moved by faketime, --dry-run, the run lock, failures,
three runs at once, a purge under load through lighttpd, and no trace of
erased records in the database or its write-ahead log."""

import fcntl
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time

from otptest import (BASE_CONF, BUILD, OTPCTL, OUT, Service,
                     assert_no_sanitizer_reports, code_for, expect, merge,
                     sanitizer_env, write_conf)

PURGE = os.path.join(BUILD, "otp-purge")
NAMES = ("code_hashes", "otps", "delivery_events", "idempotency",
         "rate_windows", "deletions", "deletion_challenges", "audit")
DAY = 86400
# The fixed moment edge tests run at (2030-01-01T00:00:00Z) and the
# retention periods they use.
NOW = 1893456000
DELIVERY_DAYS, AUDIT_DAYS, IDEM_HOURS = 30, 365, 24
RETENTION = {"retention": {"delivery_days": str(DELIVERY_DAYS),
                           "audit_days": str(AUDIT_DAYS),
                           "idempotency_hours": str(IDEM_HOURS)}}

svc = None
APP = KEY = None


class Store:
    """A configuration and an initialised database, without a service."""

    def __init__(self, name, conf=None):
        self.dir = os.path.join(OUT, name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.conf_path = os.path.join(self.dir, "otp.conf")
        self.db = os.path.join(self.dir, "otp.db")
        write_conf(self.conf_path, merge(merge(BASE_CONF, {
            "service": {"database": self.db,
                        "secrets": os.path.join(self.dir, "secrets")},
            "whatsapp": {"console_file":
                         os.path.join(self.dir, "console.jsonl")},
        }), conf))
        env = dict(os.environ, **sanitizer_env(self.dir))
        for args in (["init"], ["app", "create", "edge"]):
            p = subprocess.run([OTPCTL, "-c", self.conf_path] + args,
                               capture_output=True, text=True, env=env,
                               timeout=30)
            expect(p.returncode == 0, "otpctl %s: %s", args, p.stderr)
        self.app = self.rows("SELECT id FROM app")[0][0]

    def sql(self, script, params=()):
        c = sqlite3.connect(self.db, timeout=30)
        try:
            if isinstance(params, list):
                c.executemany(script, params)
            else:
                c.execute(script, params)
            c.commit()
        finally:
            c.close()

    def rows(self, query, params=()):
        return rows(self.db, query, params)


def rows(db, query, params=()):
    c = sqlite3.connect(db, timeout=30)
    try:
        return c.execute(query, params).fetchall()
    finally:
        c.close()


def dump(db):
    c = sqlite3.connect(db, timeout=30)
    try:
        return list(c.iterdump())
    finally:
        c.close()


def purge(conf_path, folder, *args, at=None, offset=None, cfile=True,
          env=None, wait=True):
    """Run the sanitized otp-purge, at the frozen moment at (unix
    seconds) or offset (a faketime offset such as '+31d') if given.
    Returns the CompletedProcess, or the Popen if not wait."""
    e = dict(os.environ, **sanitizer_env(folder))
    e.update(env or {})
    cmd = [PURGE] + (["-c", conf_path] if cfile else []) + list(args)
    if at is not None or offset is not None:
        # libfaketime is preloaded before the ASan runtime.
        e["ASAN_OPTIONS"] += ":verify_asan_link_order=0"
        e["TZ"] = "UTC"
        when = offset if offset is not None else \
            time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))
        cmd = ["faketime", "-f", when] + cmd
    if not wait:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=e)
    return subprocess.run(cmd, capture_output=True, text=True, env=e,
                          timeout=120)


def counts(p):
    """The name: count lines of a successful run, all of them, in order."""
    expect(p.returncode == 0, "exit %d: %s", p.returncode, p.stderr)
    lines = p.stdout.splitlines()
    expect([l.split(":")[0] for l in lines] == list(NAMES), "%r", p.stdout)
    out = {}
    for l in lines:
        m = re.fullmatch(r"([a-z_]+): (\d+)", l)
        expect(m, "bad line %r", l)
        out[m.group(1)] = int(m.group(2))
    return out


def zero(**kw):
    d = dict.fromkeys(NAMES, 0)
    d.update(kw)
    return d


def add_otp(db, app, oid, created, status="approved", expires=None,
            code_hash=None, events=()):
    """Insert an OTP and its delivery events (times) directly."""
    c = sqlite3.connect(db, timeout=30)
    try:
        c.execute("INSERT INTO otp (id, app_id, phone_ps, phone_masked, "
                  "locale, code_hash, status, created_at, expires_at, "
                  "channel, delivery_status, delivery_updated_at) VALUES "
                  "(?, ?, ?, '+964*******000', 'en', ?, ?, ?, ?, "
                  "'console', 'sent', ?)",
                  (oid, app, b"p" * 32, code_hash, status, created,
                   expires if expires is not None else created + 300,
                   created))
        c.executemany("INSERT INTO delivery_event (otp_id, status, at) "
                      "VALUES (?, 'sent', ?)", [(oid, t) for t in events])
        c.commit()
    finally:
        c.close()


def add_old_otps(db, app, n, created):
    """n OTPs created at created, one delivery event each."""
    c = sqlite3.connect(db, timeout=30)
    try:
        c.executemany(
            "INSERT INTO otp (id, app_id, phone_ps, phone_masked, locale, "
            "status, created_at, expires_at, channel, delivery_status, "
            "delivery_updated_at) VALUES (?, ?, ?, '+964*******000', 'en', "
            "'approved', ?, ?, 'console', 'sent', ?)",
            [("otp_old%05d" % i, app, b"o" * 32, created, created + 300,
              created) for i in range(n)])
        c.executemany("INSERT INTO delivery_event (otp_id, status, at) "
                      "VALUES (?, 'sent', ?)",
                      [("otp_old%05d" % i, created) for i in range(n)])
        c.commit()
    finally:
        c.close()


def setup_module():
    global svc, APP, KEY
    svc = Service("purge", conf=merge(RETENTION, {
        "otp": {"resend_cooldown": "0"},
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_app_minute": "0",
                   "failed_checks_per_phone_day": "0"}}))
    APP, KEY = svc.create_app("purge")


def teardown_module():
    svc.stop()


def test_each_rule_at_its_edge():
    s = Store("purge-edges", RETENTION)
    db, app = s.db, s.app
    old = NOW - DELIVERY_DAYS * DAY     # older than this goes at NOW
    s.sql("DELETE FROM audit")
    # OTPs and their delivery events: otp_gone turns 30 days + 1 s old at
    # NOW, otp_kept is exactly 30 days old then.  otp_kept's first event
    # is older than the period on its own.
    add_otp(db, app, "otp_gone", old - 1, events=(old - 1, NOW - 10))
    add_otp(db, app, "otp_kept", old, events=(old - 1, old, NOW - 5))
    # Code hashes: a used OTP's goes at once; a pending OTP expires when
    # its expires_at is reached.
    add_otp(db, app, "otp_used", NOW - 100, status="approved",
            code_hash=b"h" * 32)
    add_otp(db, app, "otp_expiring", NOW - 300, status="pending",
            expires=NOW, code_hash=b"e" * 32)
    add_otp(db, app, "otp_live", NOW - 299, status="pending",
            expires=NOW + 1, code_hash=b"l" * 32)
    # Idempotency records, by created_at.
    ih = NOW - IDEM_HOURS * 3600
    s.sql("INSERT INTO idempotency (app_id, key_hash, body_hash, "
          "created_at) VALUES (?, ?, x'00', ?)",
          [(app, b"gone", ih - 1), (app, b"kept", ih)])
    # Rate windows: closed when window_end <= now.
    s.sql("INSERT INTO rate (bucket, window_end, count) VALUES (?, ?, 1)",
          [(b"gone", NOW), (b"kept", NOW + 1)])
    # Finished deletions by completed_at; an unfinished one stays.
    s.sql("INSERT INTO deletion (id, app_id, status, created_at, "
          "completed_at) VALUES (?, ?, ?, ?, ?)",
          [("del_gone", app, "completed", old - 1, old - 1),
           ("del_kept", app, "completed", old, old),
           ("del_open", None, "pending", old - 99, None)])
    s.sql("INSERT INTO deletion_challenge (id, phone_ps, created_at, "
          "expires_at) VALUES (?, x'00', ?, ?)",
          [("chl_gone", NOW - 600, NOW), ("chl_kept", NOW - 599, NOW + 1)])
    aa = NOW - AUDIT_DAYS * DAY
    s.sql("INSERT INTO audit (at, actor, action) VALUES (?, 'test', ?)",
          [(aa - 1, "gone"), (aa, "kept")])

    # One second before: only the used OTP's hash, which has no age.
    c = counts(purge(s.conf_path, s.dir, at=NOW - 1))
    expect(c == zero(code_hashes=1), "%r", c)
    expect(s.rows("SELECT count(*) FROM otp")[0][0] == 5)
    expect(s.rows("SELECT code_hash FROM otp WHERE id = 'otp_used'") ==
           [(None,)])
    expect(s.rows("SELECT status FROM otp WHERE id = 'otp_expiring'") ==
           [("pending",)])

    # A dry run at NOW counts what goes and changes nothing.
    before = dump(db)
    p = purge(s.conf_path, s.dir, "--dry-run", at=NOW)
    want = zero(code_hashes=1, otps=1, delivery_events=3, idempotency=1,
                rate_windows=1, deletions=1, deletion_challenges=1,
                audit=1)
    expect(counts(p) == want, "%r", p.stdout)
    expect(dump(db) == before, "the dry run changed the database")

    # At NOW: exactly the edge records go.
    p = purge(s.conf_path, s.dir, "-v", at=NOW)
    expect(counts(p) == want, "%r", p.stdout)
    expect("checkpoint" in p.stderr, "-v said nothing: %r", p.stderr)
    expect(s.rows("SELECT id, status, code_hash IS NULL FROM otp "
                  "ORDER BY id") ==
           [("otp_expiring", "expired", 1), ("otp_kept", "approved", 1),
            ("otp_live", "pending", 0), ("otp_used", "approved", 1)])
    expect(s.rows("SELECT otp_id, at FROM delivery_event ORDER BY at") ==
           [("otp_kept", old), ("otp_kept", NOW - 5)])
    expect(s.rows("SELECT key_hash FROM idempotency") == [(b"kept",)])
    expect(s.rows("SELECT bucket FROM rate") == [(b"kept",)])
    expect(s.rows("SELECT id FROM deletion ORDER BY id") ==
           [("del_kept",), ("del_open",)])
    expect(s.rows("SELECT id FROM deletion_challenge") == [("chl_kept",)])
    # The audit: the kept record and one record per run, counts only.
    a = s.rows("SELECT at, actor, action, subject, detail FROM audit "
               "ORDER BY id")
    expect(a[0][2] == "kept" and len(a) == 3, "%r", a)
    expect(a[1][:4] == (NOW - 1, "otp-purge", "purge", None), "%r", a)
    expect(a[2] == (NOW, "otp-purge", "purge", None,
                    " ".join("%s=%d" % (k, want[k]) for k in NAMES)),
           "%r", a)
    # Nothing is left in the write-ahead log, the file is sound, and a
    # second run finds nothing.
    wal = db + "-wal"
    walsz = os.path.getsize(wal) if os.path.exists(wal) else 0
    expect(walsz == 0, "WAL holds %d bytes", walsz)
    expect(s.rows("PRAGMA integrity_check") == [("ok",)])
    expect(s.rows("PRAGMA foreign_key_check") == [])
    expect(counts(purge(s.conf_path, s.dir, at=NOW)) == zero())
    # One second later, the next records turn.
    c = counts(purge(s.conf_path, s.dir, at=NOW + 1))
    expect(c == zero(code_hashes=1, otps=1, delivery_events=2,
                     idempotency=1, rate_windows=1, deletions=1,
                     deletion_challenges=1, audit=1), "%r", c)
    assert_no_sanitizer_reports(s.dir)


def test_dry_run_changes_nothing():
    phone = "+9647700000201"
    for _ in range(3):
        r = svc.post("/v1/otp", body={"phone": phone}, key=KEY)
        expect(r.status == 201, "%r", r)
    db = os.path.join(svc.dir, "otp.db")
    lock = db + ".purge.lock"
    if os.path.exists(lock):
        os.unlink(lock)
    before = dump(db)
    # A month and a day on, everything made so far has passed.
    p = purge(svc.conf_path, svc.dir, "--dry-run", offset="+31d")
    c = counts(p)
    expect(c["otps"] >= 3 and c["delivery_events"] >= 3 and
           c["code_hashes"] >= 1, "%r", c)
    expect(dump(db) == before, "the dry run changed the database")
    expect(not os.path.exists(lock), "a dry run made the lock file")
    # Without -c, $OTP_CONFIG names the configuration.
    p = purge(None, svc.dir, "--dry-run", cfile=False,
              env={"OTP_CONFIG": svc.conf_path})
    expect(counts(p)["otps"] == 0, "%r", p.stdout)
    assert_no_sanitizer_reports(svc.dir)


def test_failures_exit_non_zero_with_a_message():
    s = Store("purge-fail")
    missing = os.path.join(s.dir, "missing.db")
    bad = os.path.join(s.dir, "bad.conf")
    conf = merge(BASE_CONF, {
        "service": {"database": missing},
        "whatsapp": {"console_file": os.path.join(s.dir, "c.jsonl")}})
    write_conf(bad, conf)
    p = purge(bad, s.dir)
    expect(p.returncode == 1 and "no such database" in p.stderr and
           p.stdout == "", "%r", p)
    expect(not os.path.exists(missing) and
           not os.path.exists(missing + ".purge.lock"),
           "the missing database was created")
    write_conf(bad, merge(conf, {"retention": {"delivery_days": "0"}}))
    p = purge(bad, s.dir)
    expect(p.returncode == 1 and "delivery_days" in p.stderr, "%r", p)
    p = purge(os.path.join(s.dir, "nope.conf"), s.dir)
    expect(p.returncode == 1 and "nope.conf" in p.stderr, "%r", p)
    # A file that is not an initialised database.
    open(missing, "w").close()
    write_conf(bad, conf)
    p = purge(bad, s.dir)
    expect(p.returncode == 1 and "not a Baghdad OTP database" in p.stderr,
           "%r", p)
    for args in (["-x"], ["extra"], ["--wet"], ["--dry-run=1"], ["-c"]):
        p = purge(s.conf_path, s.dir, *args)
        expect(p.returncode == 1 and "usage" in p.stderr, "%r", p)
    assert_no_sanitizer_reports(s.dir)


def test_lock_held_waits_then_exits_0_and_busy_database_fails():
    # Two stores: on one another run holds the lock for longer than the
    # 10 s a run waits; on the other the database is write-locked for
    # longer than the busy timeout.
    held, busy = Store("purge-lock"), Store("purge-busy")
    for s in (held, busy):
        add_old_otps(s.db, s.app, 5, int(time.time()) - 40 * DAY)
    fd = os.open(held.db + ".purge.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    c = sqlite3.connect(busy.db, timeout=30, isolation_level=None)
    c.execute("BEGIN IMMEDIATE")
    try:
        t0 = time.time()
        ph = purge(held.conf_path, held.dir, wait=False)
        pb = purge(busy.conf_path, busy.dir, wait=False)
        out_b, err_b = pb.communicate(timeout=60)
        tb = time.time() - t0
        out_h, err_h = ph.communicate(timeout=60)
        th = time.time() - t0
    finally:
        c.execute("ROLLBACK")
        c.close()
        os.close(fd)
    expect(ph.returncode == 0 and out_h == "" and
           "in progress" in err_h, "%d %r %r", ph.returncode, out_h, err_h)
    expect(9.5 <= th < 30, "waited %.1f s", th)
    expect(held.rows("SELECT count(*) FROM otp")[0][0] == 5)
    expect(pb.returncode == 1 and "database is locked" in err_b,
           "%d %r %r", pb.returncode, out_b, err_b)
    expect(4.5 <= tb < 30, "busy for %.1f s", tb)
    expect(busy.rows("SELECT count(*) FROM otp")[0][0] == 5)
    # Once free, a run does it all.
    expect(counts(purge(held.conf_path, held.dir))["otps"] == 5)
    assert_no_sanitizer_reports(held.dir)
    assert_no_sanitizer_reports(busy.dir)


def test_three_runs_at_once():
    s = Store("purge-three")
    n = 3000
    add_old_otps(s.db, s.app, n, int(time.time()) - 40 * DAY)
    runs = [purge(s.conf_path, s.dir, wait=False) for _ in range(3)]
    done = [(p.wait(120), p.stdout.read(), p.stderr.read()) for p in runs]
    for p in runs:
        p.stdout.close()
        p.stderr.close()
    expect(all(rc == 0 for rc, _, _ in done), "%r", done)
    total = 0
    for rc, out, err in done:
        if out:
            total += counts(subprocess.CompletedProcess([], rc, out,
                                                        err))["otps"]
        else:
            expect("in progress" in err, "%r", err)
    expect(total == n, "deleted %d of %d: %r", total, n, done)
    expect(s.rows("SELECT count(*) FROM otp")[0][0] == 0)
    expect(s.rows("SELECT count(*) FROM delivery_event")[0][0] == 0)
    expect(s.rows("PRAGMA integrity_check") == [("ok",)])
    assert_no_sanitizer_reports(s.dir)


def test_purge_under_load_loses_nothing():
    db = os.path.join(svc.dir, "otp.db")
    add_old_otps(db, APP, 2500, int(time.time()) - 40 * DAY)
    statuses, problems, pending = [], [], []
    stop = time.time() + 5
    lock = threading.Lock()

    def work(w):
        try:
            load(w)
        except Exception as e:  # a thread's failure fails the test
            with lock:
                problems.append(repr(e))

    def load(w):
        i = 0
        while time.time() < stop:
            i += 1
            phone = "+96477%02d%06d" % (w, i)
            r = svc.post("/v1/otp", body={"phone": phone}, key=KEY)
            with lock:
                statuses.append(r.status)
            if r.status != 201:
                with lock:
                    problems.append(r)
                continue
            oid = r.json()["id"]
            if i % 3 == 0:
                with lock:
                    pending.append(oid)
                continue
            r = svc.post("/v1/otp/verify", key=KEY,
                         body={"id": oid, "code": code_for(svc, oid)})
            with lock:
                statuses.append(r.status)
            if r.status != 200 or r.json().get("verified") is not True:
                with lock:
                    problems.append(r)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    runs = []
    while time.time() < stop - 0.5:
        runs.append(purge(svc.conf_path, svc.dir, "-v"))
    for t in threads:
        t.join()
    expect(runs, "no purge ran during the load")
    for p in runs:
        expect(p.returncode == 0, "purge failed under load: %s", p.stderr)
    got = [counts(p) for p in runs]
    expect(sum(c["otps"] for c in got) == 2500, "%r", got)
    expect(sum(c["delivery_events"] for c in got) == 2500, "%r", got)
    expect(not problems, "%d problems, e.g. %r", len(problems), problems[:3])
    expect(statuses and all(s < 500 for s in statuses), "5xx under load")
    expect(len(pending) >= 6, "%r", pending)
    for oid in pending:
        g = svc.get("/v1/otp/" + oid, key=KEY)
        expect(g.status == 200 and g.json()["status"] == "pending",
               "%s lost: %r", oid, g)
    for oid in pending[:5]:
        r = svc.post("/v1/otp/verify", key=KEY,
                     body={"id": oid, "code": code_for(svc, oid)})
        expect(r.status == 200 and r.json()["verified"] is True, "%r", r)
    expect(rows(db, "PRAGMA integrity_check") == [("ok",)])
    assert_no_sanitizer_reports(svc.dir)


def test_erased_records_leave_no_bytes_behind():
    phone, other = "+9647700000301", "+9647700000302"
    ids = []
    for _ in range(3):
        r = svc.post("/v1/otp", body={"phone": phone}, key=KEY)
        expect(r.status == 201, "%r", r)
        ids.append(r.json()["id"])
    svc.post("/v1/otp/verify", key=KEY,
             body={"id": ids[-1], "code": code_for(svc, ids[-1])})
    kept = svc.post("/v1/otp", body={"phone": other}, key=KEY).json()["id"]
    files = [os.path.join(svc.dir, f) for f in ("otp.db", "otp.db-wal")]

    def found(needle):
        hits = []
        for f in files:
            if os.path.exists(f):
                with open(f, "rb") as fh:
                    if needle.encode() in fh.read():
                        hits.append(os.path.basename(f))
        return hits

    # Before: the ids are in the files (so the scan can see them).
    expect(all(found(i) for i in ids), "ids not stored?")
    r = svc.post("/v1/deletions", body={"phone": phone}, key=KEY)
    expect(r.status == 200 and r.json()["deleted"]["otps"] == 3, "%r", r)
    p = purge(svc.conf_path, svc.dir)
    counts(p)
    for i in ids:
        for needle in (i, i[4:]):
            expect(not found(needle), "%s still in %r", needle,
                   found(needle))
    expect(found(kept) == ["otp.db"], "the kept OTP: %r", found(kept))
    expect(svc.get("/v1/otp/" + kept, key=KEY).status == 200)
    assert_no_sanitizer_reports(svc.dir)
