"""WhatsApp delivery (API.md section 4) against a mock Graph API on
loopback: what reaches it, each error class, retries, timeouts, garbage,
redirects, and the status webhook with its signature; then sends over
HTTPS and HTTP/2 (nghttpx in front of the mock), as Graph is."""

import hashlib
import hmac
import json
import os
import re
import threading
import time

from mock_graph import H2Front, MockGraph, error, success, tcp_connections
from otptest import (OUT, Service, children_of, expect, expect_problem,
                     free_port)

svc = mock = None
KEY = None
TOKEN = "EAAtestTOKENsecret123"
APP_SECRET = "s3cr3t-app"
VERIFY = "verify-me-please"
_next = [7711000000]


def new_phone():
    _next[0] += 1
    return "+964%d" % _next[0]


def setup_module():
    global svc, mock, KEY
    mock = MockGraph()
    svc = Service("whatsapp", conf={
        "otp": {"resend_cooldown": "0"},
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_app_minute": "0"},
        "whatsapp": {"channel": "whatsapp", "api_base": mock.url(),
                     "api_version": "v21.0", "phone_number_id": "1098765",
                     "template": "otp_code",
                     "template_languages": "en:en_US ar:ar",
                     "timeout_ms": "400", "retries": "2"}},
        secrets={"whatsapp_access_token": TOKEN,
                 "whatsapp_app_secret": APP_SECRET,
                 "whatsapp_verify_token": VERIFY})
    _, KEY = svc.create_app("wa")


def teardown_module():
    svc.stop()
    mock.stop()


def send(phone, **kw):
    return svc.post("/v1/otp", body=dict(phone=phone, **kw), key=KEY)


def test_success_sends_the_authentication_template():
    mock.reset()
    phone = new_phone()
    r = send(phone, locale="ar")
    expect(r.status == 201, "%r", r)
    d = r.json()
    expect(d["delivery"] == {"channel": "whatsapp", "status": "sent",
                             "updated_at": d["created_at"]}, "%r", d)
    expect(len(mock.requests) == 1)
    req = mock.requests[0]
    expect(req["path"] == "/v21.0/1098765/messages", req["path"])
    expect(req["headers"].get("Authorization") == "Bearer " + TOKEN)
    body = json.loads(req["body"])
    code = body["template"]["components"][0]["parameters"][0]["text"]
    expect(re.fullmatch(r"\d{6}", code), "%r", body)
    expect(body == {
        "messaging_product": "whatsapp", "recipient_type": "individual",
        "to": phone, "type": "template",
        "template": {"name": "otp_code", "language": {"code": "ar"},
                     "components": [
                         {"type": "body", "parameters": [
                             {"type": "text", "text": code}]},
                         {"type": "button", "sub_type": "url", "index": "0",
                          "parameters": [{"type": "text", "text": code}]}]}},
           "%r", body)
    r = svc.post("/v1/otp/verify", key=KEY, body={"id": d["id"],
                                                  "code": code})
    expect(r.json()["verified"] is True, "%r", r)
    mock.reset()
    send(new_phone())
    expect(mock.sent()[0]["template"]["language"]["code"] == "en_US")
    expect(TOKEN not in svc.log())


def test_a_bad_key_is_401_before_the_body_and_sends_nothing():
    """A WhatsApp send takes the writer for itself, not a batch, and
    checks its key there: a missing, malformed, unknown or rotated key
    gets 401 whatever the body, and nothing reaches Graph."""
    app, key = svc.create_app("wa-rotating")
    mock.reset()
    expect(svc.post("/v1/otp", body={"phone": new_phone()},
                    key=key).status == 201)
    svc.otpctl("key", "rotate", app)
    mock.reset()
    for k in (None, "", "a b", key + "x", key):
        h = {} if k is None else {"Authorization": "Bearer " + k}
        for body, ctype in (({"phone": new_phone()}, "application/json"),
                            ("{", "text/plain")):
            r = svc.request("POST", "/v1/otp", body=body, headers=h,
                            ctype=ctype)
            expect_problem(r, 401, "unauthorized")
            expect(r.header("WWW-Authenticate") == "Bearer", "%r", r)
    expect(mock.requests == [], "%r", mock.requests)


def failed_not_verifiable(phone):
    r = svc.post("/v1/otp/verify", key=KEY, body={"phone": phone,
                                                  "code": "123456"})
    expect_problem(r, 404, "not_found")


def test_recipient_errors_are_422_undeliverable():
    for code in (131026, 131049):
        mock.reset(error(code, title="Message undeliverable"))
        phone = new_phone()
        t0 = time.time()
        p = expect_problem(send(phone), 422, "undeliverable")
        expect(p["channel_error"] == code, "%r", p)
        expect(len(mock.requests) == 1, "retried a recipient error")
        failed_not_verifiable(phone)


def test_operator_errors_are_502_and_logged():
    for status, code, title in ((401, 190, "Invalid OAuth access token"),
                                (400, 132001, "Template name does not exist"),
                                (400, 131031, "Account has been locked"),
                                (400, 368, "Temporarily blocked for policies"),
                                (400, 131042, "Business eligibility payment"),
                                (400, 130497, "Country restriction")):
        mock.reset(error(code, status=status, title=title))
        phone = new_phone()
        expect_problem(send(phone), 502, "delivery_failed")
        expect(len(mock.requests) == 1, "retried an operator error")
        # Runs of digits in upstream text are masked; the code is kept.
        expect(re.search(r"error: wa_send: WhatsApp refused the message: "
                         r"%d \(#%s\) %s" % (code, re.escape(
                                                 "*" * len(str(code)))
                                             if code > 999 else code,
                                             re.escape(title)),
                         svc.log()), "not logged: %d\n%s" % (code,
                                                             svc.log()[-2000:]))
        failed_not_verifiable(phone)
    mock.reset({"status": 403, "raw": b"Forbidden"})
    expect_problem(send(new_phone()), 502, "delivery_failed")
    expect(TOKEN not in svc.log())


def test_retryable_errors_are_retried_then_503():
    for resp in (error(130429, title="Rate limit hit"),
                 error(131000, status=500, title="Something went wrong"),
                 error(4, title="Too many calls"),
                 {"status": 503, "raw": b"<html>down</html>"}):
        mock.reset(default=resp)
        t0 = time.time()
        r = send(new_phone())
        took = time.time() - t0
        expect_problem(r, 503, "delivery_unavailable")
        expect(r.header("Retry-After") == "30", "%r", r.headers)
        expect(len(mock.requests) == 3, "%d attempts", len(mock.requests))
        gaps = [b["time"] - a["time"] for a, b in
                zip(mock.requests, mock.requests[1:])]
        expect(gaps[0] >= 0.2 and gaps[1] >= 0.45, "no backoff: %r", gaps)
        expect(took < 1.2 * 3 + 1, "took %.1f s", took)


def test_a_retry_that_succeeds_is_201():
    mock.reset(error(131000, status=500), {"status": 502, "raw": b""})
    r = send(new_phone())
    expect(r.status == 201, "%r", r)
    expect(len(mock.requests) == 3)


def test_slow_upstream_times_out_within_the_bound():
    mock.reset(default=dict(success("wamid.slow"), delay=1.0))
    t0 = time.time()
    r = send(new_phone())
    took = time.time() - t0
    expect_problem(r, 503, "delivery_unavailable")
    # timeout_ms 400, 3 attempts and two waits of at most 0.5 and 0.75 s.
    expect(1.2 <= took < 1.2 + 1.25 + 0.5, "took %.2f s", took)
    expect(len(mock.requests) == 3, "%d attempts", len(mock.requests))


def test_garbage_and_oversized_answers():
    # A 2xx that is not a proper answer may still have been delivered:
    # it is final (502, logged), never sent again.
    for resp in ({"status": 200, "raw": b"not json at all"},
                 {"status": 200, "raw": b'{"messages": [{"id": 12}]}'},
                 {"status": 200, "raw": b'{"messages": []}'},
                 {"status": 200, "raw": b'{"messages":[{"id":"wamid.x"}]'},
                 {"status": 200, "raw": b'{"messages":[{"id":"' +
                  b"a" * 300000 + b'"}]}'},
                 {"status": 200, "raw": b'{"messages":[{"id":"<script>"}]}'}):
        mock.reset(default=resp)
        phone = new_phone()
        expect_problem(send(phone), 502, "delivery_failed")
        expect(len(mock.requests) == 1, "sent the same code %d times",
               len(mock.requests))
        failed_not_verifiable(phone)
    # Garbage with an error status is retried like any server error.
    mock.reset(default={"status": 500, "raw": b"\xff\x00garbage"})
    expect_problem(send(new_phone()), 503, "delivery_unavailable")
    expect(len(mock.requests) == 3)


def test_upstream_text_never_carries_a_number_or_code():
    phone = new_phone()
    mock.reset(error(131026, title="Message undeliverable to %s, code "
                     "123456" % phone))
    p = expect_problem(send(phone), 422, "undeliverable")
    expect(phone[1:] not in p["detail"] and "123456" not in p["detail"] and
           phone[-7:] not in p["detail"], "%r", p)
    expect(phone[-7:] not in svc.log(), "number in the log")


def test_a_slow_older_send_does_not_cancel_a_newer_one():
    import threading
    phone = new_phone()
    mock.reset(dict(success("wamid.slowA"), delay=0.3))
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("a", send(phone)))
    t.start()
    time.sleep(0.1)
    b = send(phone)
    t.join()
    a = out["a"]
    expect(a.status == 201 and b.status == 201, "%r %r", a, b)
    expect(b.json()["status"] == "pending", "%r", b)
    gb = svc.get("/v1/otp/" + b.json()["id"], key=KEY).json()
    expect(gb["status"] == "pending", "newer OTP canceled: %r", gb)
    ga = svc.get("/v1/otp/" + a.json()["id"], key=KEY).json()
    expect(ga["status"] == "canceled", "older OTP: %r", ga)
    code = [json.loads(r["body"]) for r in mock.requests
            if json.loads(r["body"])["to"] == phone][-1]
    code = code["template"]["components"][0]["parameters"][0]["text"]
    r = svc.post("/v1/otp/verify", key=KEY, body={"phone": phone,
                                                  "code": code})
    expect(r.status == 200, "%r", r)


def test_redirects_are_not_followed():
    mock.reset(default={"status": 302, "headers": {
        "Location": "http://127.0.0.1:%d/elsewhere" % mock.port}})
    r = send(new_phone())
    expect_problem(r, 502, "delivery_failed")
    expect(all(q["path"] == "/v21.0/1098765/messages"
               for q in mock.requests), "followed a redirect")


def test_webhook_handshake():
    q = "/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=%s" \
        "&hub.challenge=1158201444" % VERIFY
    r = svc.get(q)
    expect(r.status == 200 and r.body == "1158201444", "%r", r)
    expect(r.header("Content-Type").startswith("text/plain"))
    for bad in (q.replace(VERIFY, VERIFY + "x"), q.replace(VERIFY, ""),
                q.replace("subscribe", "unsubscribe"),
                "/webhooks/whatsapp", "/webhooks/whatsapp?hub.mode=subscribe"
                "&hub.challenge=1", q + "&hub.verify_token=" + VERIFY,
                q.replace(VERIFY, "%zz")):
        expect(svc.get(bad).status == 403, bad)


def sign(body, secret=APP_SECRET):
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


def hook(statuses, secret=APP_SECRET, raw=None):
    body = raw if raw is not None else json.dumps({
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "statuses": statuses}}]}]},
        ensure_ascii=False).encode()
    h = {"X-Hub-Signature-256": sign(body, secret)} if secret else {}
    return svc.post("/webhooks/whatsapp", body=body, headers=h)


def status(wamid, st, **kw):
    d = {"id": wamid, "status": st, "timestamp": str(int(time.time())),
         "recipient_id": "9647700000000"}
    d.update(kw)
    return d


def otp_with_wamid():
    mock.reset()
    d = send(new_phone()).json()
    wamid = "wamid.TEST%06d" % mock.count
    return d["id"], wamid


def delivery(otp_id):
    return svc.get("/v1/otp/" + otp_id, key=KEY).json()["delivery"]


def test_webhook_signature_is_required():
    otp_id, wamid = otp_with_wamid()
    expect_problem(hook([status(wamid, "read")], secret=None), 401,
                   "unauthorized")
    expect_problem(hook([status(wamid, "read")], secret="wrong"), 401,
                   "unauthorized")
    expect(delivery(otp_id)["status"] == "sent", "recorded without a "
           "valid signature")


def test_webhook_statuses_move_forward_only():
    otp_id, wamid = otp_with_wamid()
    expect(hook([status(wamid, "delivered")]).status == 200)
    expect(delivery(otp_id)["status"] == "delivered")
    expect(hook([status(wamid, "read"), status(wamid, "read")]).status == 200)
    expect(delivery(otp_id)["status"] == "read")
    expect(hook([status(wamid, "delivered"), status(wamid, "sent"),
                 status("wamid.unknown", "read")]).status == 200)
    expect(delivery(otp_id)["status"] == "read", "%r", delivery(otp_id))


def test_webhook_failed_records_the_error_in_arabic_too():
    otp_id, wamid = otp_with_wamid()
    title = "تعذر تسليم الرسالة"
    r = hook([status(wamid, "failed", errors=[
        {"code": 131026, "title": title}])])
    expect(r.status == 200, "%r", r)
    d = delivery(otp_id)
    expect(d["status"] == "failed" and
           d["error"] == {"code": 131026, "title": title}, "%r", d)
    g = svc.get("/v1/otp/" + otp_id, key=KEY).json()
    expect(g["status"] == "failed", "%r", g)


def test_webhook_batch_of_1000():
    otp_id, wamid = otp_with_wamid()
    batch = [status("wamid.nobody%04d" % i, "delivered") for i in range(999)]
    batch.append(status(wamid, "delivered"))
    t0 = time.time()
    r = hook(batch)
    expect(r.status == 200, "%r", r)
    expect(time.time() - t0 < 3, "slow: %.2f s", time.time() - t0)
    expect(delivery(otp_id)["status"] == "delivered")


def test_webhook_malformed_json_with_valid_signature_is_400():
    for raw in (b"{", b'{"entry": [}', b"\xff\xfe", b""):
        expect_problem(hook(None, raw=raw), 400, "invalid_request")
    # Valid JSON of another shape is accepted and ignored.
    expect(hook(None, raw=b'{"object": "page", "entry": 5}').status == 200)


def test_a_repeated_message_id_still_records_the_send():
    mock.reset(default=success("wamid.SAME"))
    a = send(new_phone())
    b = send(new_phone())
    expect(a.status == 201 and b.status == 201, "%r %r", a, b)
    expect(len(mock.requests) == 2, "%d sends", len(mock.requests))


def fcgi_pid(svc):
    """The pid of the otp.fcgi that svc's lighttpd started."""
    for pid in children_of(svc.proc.pid):
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "otp.fcgi":
                return pid
    raise AssertionError("no otp.fcgi under lighttpd %d" % svc.proc.pid)


def https_service(name, h2, ca_file, host="127.0.0.1"):
    wa = {"channel": "whatsapp",
          "api_base": "https://%s:%d" % (host, h2.port),
          "phone_number_id": "1098765", "timeout_ms": "5000",
          "retries": "0"}
    if ca_file:
        wa["ca_file"] = ca_file
    s = Service(name, args=" --threads 16", conf={
        "otp": {"resend_cooldown": "0"},
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_app_minute": "0"},
        "whatsapp": wa}, secrets={"whatsapp_access_token": TOKEN})
    return s, s.create_app("h2")[1]


def burst(s, key, h2, n):
    """n sends at once, each answered by the mock after 1.5 s; returns
    how many reached the mock together, otp.fcgi's connections to the
    front meanwhile, and the answers."""
    mock.reset(default=dict(success("wamid.H2"), delay=1.5))
    answers = []

    def one():
        answers.append(s.post("/v1/otp", key=key,
                              body={"phone": new_phone()}))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.time() + 1.2
    while len(mock.requests) < n and time.time() < deadline:
        time.sleep(0.02)
    in_flight = len(mock.requests)
    conns = tcp_connections(fcgi_pid(s), h2.port)
    for t in threads:
        t.join()
    expect(len(answers) == n and all(
        r.status == 201 and r.json()["delivery"]["status"] == "sent"
        for r in answers), "%r", answers)
    return in_flight, conns


def test_https_sends_share_one_http2_connection():
    """Twelve sends at once through HTTPS: each is delivered, over
    HTTP/2, and all of them are streams of one TLS connection."""
    h2 = H2Front(os.path.join(OUT, "whatsapp-h2-front"), mock.port,
                 free_port())
    s = None
    try:
        s, key = https_service("whatsapp-h2", h2, h2.ca_file)
        in_flight, conns = burst(s, key, h2, 12)
        expect(in_flight == 12, "%d of 12 sends in flight", in_flight)
        expect(conns == 1, "%d connections to Graph for 12 sends", conns)
        # nghttpx says which protocol the client spoke to it.
        vias = set(r["headers"].get("Via") for r in mock.requests)
        expect(vias == {"2 nghttpx"}, "%r", vias)
        expect(all(r["headers"].get("Authorization") == "Bearer " + TOKEN
                   for r in mock.requests))
    finally:
        if s is not None:
            s.stop()
        h2.stop()


def test_https_without_http2_takes_a_connection_per_send():
    """A TLS server that speaks only HTTP/1.1 cannot take streams: once
    the first answer says so, sends are no longer held to the four
    connections meant for HTTP/2, and eight go at once."""
    h1 = H2Front(os.path.join(OUT, "whatsapp-h1-front"), mock.port,
                 free_port(), http1=True)
    s = None
    try:
        s, key = https_service("whatsapp-h1", h1, h1.ca_file)
        mock.reset()
        r = s.post("/v1/otp", key=key, body={"phone": new_phone()})
        expect(r.status == 201, "%r", r)
        in_flight, conns = burst(s, key, h1, 8)
        expect(in_flight == 8, "%d of 8 sends in flight", in_flight)
        expect(conns == 8, "%d connections for 8 sends", conns)
        vias = set(r["headers"].get("Via") for r in mock.requests)
        expect(vias == {"1.1 nghttpx"}, "%r", vias)
        expect("HTTP/1.x" in s.log(), s.log()[-500:])
    finally:
        if s is not None:
            s.stop()
        h1.stop()


def test_https_certificate_is_verified():
    """The front's self-signed certificate is refused without ca_file,
    and with it for a host name it does not carry: nothing is sent, and
    the client hears 503 delivery_unavailable."""
    h2 = H2Front(os.path.join(OUT, "whatsapp-h2-front"),
                 mock.port, free_port())
    s = None
    try:
        for name, ca_file, host, why in (
                ("whatsapp-h2-untrusted", None, "127.0.0.1",
                 "SSL certificate problem"),
                ("whatsapp-h2-wrong-name", h2.ca_file, "localhost",
                 "certificate subject name")):
            s, key = https_service(name, h2, ca_file, host)
            mock.reset()
            r = s.post("/v1/otp", key=key, body={"phone": new_phone()})
            expect_problem(r, 503, "delivery_unavailable")
            expect(len(mock.requests) == 0, "%s: %d reached Graph", name,
                   len(mock.requests))
            expect(why in s.log(), "%s: %s", name, s.log()[-500:])
            s.stop()
            s = None
    finally:
        if s is not None:
            s.stop()
        h2.stop()
