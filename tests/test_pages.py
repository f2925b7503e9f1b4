"""The privacy and data-deletion pages (API.md section 5), over HTTP and
in headless Chromium, in English and Arabic, against the real binary
behind lighttpd with the mock Graph API."""

import html
import json
import os
import re
import subprocess
import time

from mock_graph import MockGraph, success
from otptest import OUT, TOP, Service, expect, expect_problem

svc = mock = None
KEY = KEY_B = None
SHOTS = os.path.join(OUT, "screenshots")
_next = [7722000000]


def new_phone():
    _next[0] += 1
    return "+964%d" % _next[0]


def setup_module():
    global svc, mock, KEY, KEY_B
    mock = MockGraph()
    svc = Service("pages", conf={
        "service": {"name": "Baghdad <OTP> & Co",
                    "contact_email": "privacy@example.test",
                    "policy_updated": "2026-11-20"},
        "otp": {"resend_cooldown": "0", "ttl": "240"},
        "retention": {"delivery_days": "21", "idempotency_hours": "12",
                      "audit_days": "90"},
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_app_minute": "0", "sends_per_ip_minute": "0"},
        "whatsapp": {"channel": "whatsapp", "api_base": mock.url(),
                     "phone_number_id": "555", "timeout_ms": "1000",
                     "retries": "0"}},
        secrets={"whatsapp_access_token": "tok",
                 "whatsapp_app_secret": "sec",
                 "whatsapp_verify_token": "ver"})
    _, KEY = svc.create_app("a")
    _, KEY_B = svc.create_app("b")


def teardown_module():
    svc.stop()
    mock.stop()


class Browser:
    """A cookie-keeping client for the forms."""

    def __init__(self, s):
        self.s = s
        self.cookie = None

    def get(self, path, **kw):
        h = kw.pop("headers", {})
        if self.cookie:
            h["Cookie"] = self.cookie
        r = self.s.get(path, headers=h, **kw)
        sc = r.header("Set-Cookie")
        if sc:
            self.cookie = sc.split(";")[0]
        return r

    def post(self, path, fields, csrf=True, **kw):
        h = {"Cookie": self.cookie} if self.cookie else {}
        body = "&".join("%s=%s" % (k, quote(v)) for k, v in fields.items())
        return self.s.request("POST", path, body=body, headers=h,
                              ctype="application/x-www-form-urlencoded")


def quote(v):
    from urllib.parse import quote_plus
    return quote_plus(v)


def form_value(page, name):
    m = re.search(r'name="%s" value="([^"]*)"' % name, page)
    expect(m, "no %s in the form" % name)
    return html.unescape(m.group(1))


def expect_page(r, status, lang="en"):
    expect(r.status == status, "status %d, expected %d: %r", r.status, status,
           r)
    expect(r.header("Content-Type") == "text/html; charset=utf-8")
    csp = r.header("Content-Security-Policy") or ""
    expect("frame-ancestors 'none'" in csp and "script-src" not in csp and
           "'unsafe-inline'" not in csp, "CSP %r", csp)
    expect(r.header("Referrer-Policy") == "no-referrer")
    expect(r.header("X-Content-Type-Options") == "nosniff")
    expect('<html lang="%s" dir="%s">' % (lang, "rtl" if lang == "ar"
                                           else "ltr") in r.body,
           "lang/dir: %r", r.body[:200])
    expect("<script" not in r.body.lower(), "a script in a page")
    return r.body


def test_privacy_states_the_running_configuration():
    page = expect_page(svc.get("/privacy"), 200)
    for s in ("Baghdad &lt;OTP&gt; &amp; Co", "privacy@example.test",
              "2026-11-20", "240 seconds", "21 days", "12 hours", "90 days",
              "WhatsApp", 'href="/data-deletion?lang=en"',
              'hreflang="ar"', "never", "marketing"):
        expect(s in page, "%r not in the policy", s)
    expect("<OTP>" not in page, "service name not escaped")
    ar = expect_page(svc.get("/privacy?lang=ar"), 200, "ar")
    for s in ("سياسة الخصوصية", "240", "21", "90", 'hreflang="en"',
              "privacy@example.test", "واتساب"):
        expect(s in ar, "%r not in the Arabic policy", s)


def test_language_negotiation():
    cases = [({}, "en"), ({"Accept-Language": "ar-IQ,ar;q=0.9,en;q=0.8"}, "ar"),
             ({"Accept-Language": "fr, ar;q=0.5"}, "ar"),
             ({"Accept-Language": "en;q=0.3, ar;q=0.7"}, "ar"),
             ({"Accept-Language": "de"}, "en"),
             ({"Accept-Language": "x" * 2000}, "en")]
    for h, lang in cases:
        r = svc.get("/privacy", headers=h)
        expect_page(r, 200, lang)
    r = svc.get("/privacy?lang=en", headers={"Accept-Language": "ar"})
    expect_page(r, 200, "en")
    r = svc.get("/data-deletion?lang=ar")
    expect_page(r, 200, "ar")


def test_style_sheet():
    r = svc.get("/style.css")
    expect(r.status == 200 and r.header("Content-Type").startswith("text/css"))
    expect(len(r.body) < 16000, "style sheet is %d bytes", len(r.body))
    expect("@import" not in r.body and "url(" not in r.body,
           "external resources in the style sheet")


def test_deletion_form_sets_a_strict_csrf_cookie():
    r = svc.get("/data-deletion")
    page = expect_page(r, 200)
    c = r.header("Set-Cookie")
    expect(re.fullmatch(r"otp_csrf=[0-9a-f]{64}; Path=/data-deletion; "
                        r"HttpOnly; SameSite=Strict", c), "%r", c)
    expect(form_value(page, "csrf") == c.split("=")[1].split(";")[0])
    expect('<label for="phone">' in page and 'method="post"' in page)


def test_posts_without_a_valid_csrf_token_are_403():
    b = Browser(svc)
    page = b.get("/data-deletion").body
    tok = form_value(page, "csrf")
    before = len(mock.requests)
    phone = new_phone()
    for cookie, field in ((None, tok), (b.cookie, None), (b.cookie, "0" * 64),
                          ("otp_csrf=" + "0" * 64, "0" * 64),
                          (b.cookie, tok[:-1] + ("0" if tok[-1] != "0"
                                                 else "1"))):
        h = {"Cookie": cookie} if cookie else {}
        fields = "phone=" + quote(phone) + (("&csrf=" + field) if field
                                            else "")
        r = svc.request("POST", "/data-deletion", body=fields, headers=h,
                        ctype="application/x-www-form-urlencoded")
        expect_page(r, 403)
    r = svc.request("POST", "/data-deletion/confirm", body="code=123456",
                    ctype="application/x-www-form-urlencoded")
    expect_page(r, 403)
    expect(len(mock.requests) == before, "sent without a valid token")


def start_flow(b, phone, lang="en"):
    page = b.get("/data-deletion?lang=" + lang).body
    return b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                     "lang": lang, "phone": phone})


def normalise(page):
    """A page with its per-request values blanked."""
    page = re.sub(r'name="(csrf|state)" value="[^"]*"', r'name="\1" value=""',
                  page)
    return page


def test_same_answer_whether_or_not_data_is_held():
    held = new_phone()
    expect(svc.post("/v1/otp", body={"phone": held}, key=KEY).status == 201)
    mock.reset()
    r1 = start_flow(Browser(svc), held)
    r2 = start_flow(Browser(svc), new_phone())
    expect_page(r1, 200)
    expect_page(r2, 200)
    expect(normalise(r1.body) == normalise(r2.body), "pages differ")
    expect([k for k, v in r1.headers if k != "Date"] ==
           [k for k, v in r2.headers if k != "Date"], "headers differ")
    wait_for(lambda: len(mock.requests) >= 1)
    time.sleep(0.3)
    expect(len(mock.requests) == 1, "%d messages", len(mock.requests))
    body = json.loads(mock.requests[0]["body"])
    expect(body["to"] == held, "%r", body)


def test_the_code_is_sent_after_the_answer():
    held = new_phone()
    expect(svc.post("/v1/otp", body={"phone": held}, key=KEY).status == 201)
    # The send takes its whole timeout (1 s): an answer that waited for
    # it would take at least that long.
    mock.reset(default=dict(success("wamid.slowpage"), delay=1.5))
    try:
        t0 = time.time()
        r = start_flow(Browser(svc), held)
        took = time.time() - t0
        expect_page(r, 200)
        expect(took < 0.7, "the answer waited for the send: %.2f s", took)
        wait_for(lambda: len(mock.requests) == 1)
    finally:
        time.sleep(1.2)
        mock.reset()


def test_invalid_phone_shows_the_form_again():
    b = Browser(svc)
    r = start_flow(b, "not a phone")
    page = expect_page(r, 422)
    expect('role="alert">Enter a valid phone number' in page, page)
    expect("not a phone" not in page)


def wait_for(cond, seconds=10):
    """The code is sent once the page is out: wait until cond() holds."""
    deadline = time.time() + seconds
    while not cond():
        if time.time() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def flow_with_code(b, phone, lang="en"):
    mock.reset()
    page = start_flow(b, phone, lang).body
    wait_for(lambda: len(mock.requests) > 0)
    code = json.loads(mock.requests[-1]["body"])["template"][
        "components"][0]["parameters"][0]["text"]
    return page, code


def confirm(b, page, code, lang="en"):
    return b.post("/data-deletion/confirm", {
        "csrf": form_value(page, "csrf"), "state": form_value(page, "state"),
        "lang": lang, "code": code})


def test_wrong_code_keeps_everything():
    phone = new_phone()
    otp = svc.post("/v1/otp", body={"phone": phone}, key=KEY).json()["id"]
    b = Browser(svc)
    page, code = flow_with_code(b, phone)
    wrong = "".join(str((int(d) + 1) % 10) for d in code)
    r = confirm(b, page, wrong)
    p = expect_page(r, 422)
    expect("That code is not right" in p and "Nothing has been deleted" in p)
    expect(svc.get("/v1/otp/" + otp, key=KEY).status == 200, "data gone")
    r = confirm(b, page, "12ab")
    expect_page(r, 422)


def test_right_code_deletes_across_applications():
    phone = new_phone()
    a = svc.post("/v1/otp", body={"phone": phone}, key=KEY).json()["id"]
    bb = svc.post("/v1/otp", body={"phone": phone}, key=KEY_B).json()["id"]
    keep = svc.post("/v1/otp", body={"phone": new_phone()},
                    key=KEY).json()["id"]
    b = Browser(svc)
    flow, code = flow_with_code(b, phone, "ar")
    r = confirm(b, flow, code, "ar")
    done = expect_page(r, 200, "ar")
    m = re.search(r'id="confirmation" dir="ltr">([0-9A-Z]{5}-[0-9A-Z]{5})<',
                  done)
    expect(m, "no confirmation code: %r", done)
    expect_problem(svc.get("/v1/otp/" + a, key=KEY), 404, "not_found")
    expect_problem(svc.get("/v1/otp/" + bb, key=KEY_B), 404, "not_found")
    expect(svc.get("/v1/otp/" + keep, key=KEY).status == 200)
    st = svc.get("/data-deletion/status?code=" + m.group(1))
    page = expect_page(st, 200)
    expect("Completed" in page and phone[4:] not in page, page)
    st = svc.get("/data-deletion/status?lang=ar&code=" + m.group(1).lower())
    page = expect_page(st, 200, "ar")
    # The other language's link keeps the code.
    expect('href="/data-deletion/status?lang=en&amp;code=%s"' % m.group(1)
           in page, page)
    audit = svc.otpctl("audit").stdout
    expect("data-deletion-page\tdeletion" in audit, audit)
    expect(phone[1:] not in audit and phone[-7:] not in audit)
    # The same code does not work twice.
    expect_page(confirm(b, flow, code, "ar"), 422, "ar")


def test_used_up_attempts_look_the_same_held_or_not():
    s = Service("pages-attempts", conf={
        "otp": {"max_attempts": "2"},
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_ip_minute": "0",
                   "failed_checks_per_phone_day": "0"}})
    try:
        _, key = s.create_app()
        held = "+9647701110001"
        s.post("/v1/otp", body={"phone": held}, key=key)
        pages = []
        for phone in (held, "+9647701110002"):
            b = Browser(s)
            page = b.get("/data-deletion").body
            r = b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                          "phone": phone})
            flow = r.body
            seen = []
            for _ in range(4):
                r = b.post("/data-deletion/confirm", {
                    "csrf": form_value(flow, "csrf"),
                    "state": form_value(flow, "state"), "code": "000000"})
                seen.append((r.status, normalise(r.body)))
            pages.append(seen)
        expect(pages[0] == pages[1], "held and not held differ")
    finally:
        s.stop()


def test_failed_checks_per_number_close_the_confirmation():
    s = Service("pages-failed", conf={
        "limits": {"sends_per_phone_hour": "0", "sends_per_phone_day": "0",
                   "sends_per_ip_minute": "0",
                   "failed_checks_per_phone_day": "3"}})
    try:
        for phone in ("+9647701110003", "+9647701110004"):
            statuses = []
            for flow_no in range(2):
                b = Browser(s)
                page = b.get("/data-deletion").body
                flow = b.post("/data-deletion", {
                    "csrf": form_value(page, "csrf"), "phone": phone}).body
                for _ in range(2):
                    r = b.post("/data-deletion/confirm", {
                        "csrf": form_value(flow, "csrf"),
                        "state": form_value(flow, "state"),
                        "code": "000000"})
                    statuses.append(r.status)
            # Three wrong codes across two flows, then 429, held or not.
            expect(statuses == [422, 422, 422, 429], "%r", statuses)
    finally:
        s.stop()


def test_a_number_known_only_by_an_idempotency_record_is_held():
    s = Service("pages-idem", conf={
        "limits": {"sends_per_app_minute": "1", "sends_per_ip_minute": "0"}})
    try:
        _, key = s.create_app()
        s.post("/v1/otp", body={"phone": "+9647701110005"}, key=key)
        r = s.post("/v1/otp", body={"phone": "+9647701110006"}, key=key,
                   headers={"Idempotency-Key": "k1"})
        expect_problem(r, 429, "rate_limited")
        before = len(s.console_lines())
        b = Browser(s)
        page = b.get("/data-deletion").body
        b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                  "phone": "+9647701110006"})
        wait_for(lambda: len(s.console_lines()) > before)
        lines = s.console_lines()
        expect(len(lines) == before + 1 and
               lines[-1]["phone"] == "+9647701110006", "no code sent")
    finally:
        s.stop()


def test_unknown_status_code_is_404():
    for q in ("?code=AAAAA-BBBBB", "?code=", "", "?code=" + "A" * 100,
              "?code=%zz"):
        expect_page(svc.get("/data-deletion/status" + q), 404)


def test_forged_or_expired_state_is_refused():
    phone = new_phone()
    svc.post("/v1/otp", body={"phone": phone}, key=KEY)
    b = Browser(svc)
    page, code = flow_with_code(b, phone)
    state = form_value(page, "state")
    cid, exp, ps, mac = state.split(".")
    other = "%064x" % (int(ps, 16) ^ 1)
    for forged in (".".join((cid, str(int(exp) + 1000), ps, mac)),
                   ".".join((cid[:-1] + "01"[cid[-1] == "0"], exp, ps, mac)),
                   ".".join((cid, exp, other, mac)),
                   ".".join((cid, exp, mac)), "x", ""):
        r = b.post("/data-deletion/confirm", {
            "csrf": form_value(page, "csrf"), "state": forged,
            "code": code})
        expect_page(r, 400)


def test_per_ip_limit_answers_a_friendly_429():
    s = Service("pages-limit", conf={
        "limits": {"sends_per_ip_minute": "3"}})
    try:
        codes = []
        for i in range(5):
            b = Browser(s)
            page = b.get("/data-deletion").body
            r = b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                          "phone": "+96477099900%02d" % i})
            codes.append(r.status)
        expect(codes[:3] == [200, 200, 200] and codes[3:] == [429, 429],
               "%r", codes)
        expect("Too many requests" in r.body and r.header("Retry-After"))
        expect_page(r, 429)
    finally:
        s.stop()


def test_per_number_limit_answers_a_friendly_429():
    s = Service("pages-limit-number", conf={
        "limits": {"sends_per_ip_minute": "0", "sends_per_phone_hour": "2"}})
    try:
        codes = []
        for i in range(3):
            b = Browser(s)
            page = b.get("/data-deletion?lang=ar").body
            r = b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                          "lang": "ar",
                                          "phone": "+9647709990077"})
            codes.append(r.status)
        expect(codes == [200, 200, 429], "%r", codes)
        expect_page(r, 429, "ar")
        expect(int(r.header("Retry-After")) > 0)
        # Another number is not held back.
        b = Browser(s)
        page = b.get("/data-deletion").body
        r = b.post("/data-deletion", {"csrf": form_value(page, "csrf"),
                                      "phone": "+9647709990078"})
        expect(r.status == 200, "%r", r)
    finally:
        s.stop()


def run_browser(lang):
    phone = new_phone()
    otp = svc.post("/v1/otp", body={"phone": phone}, key=KEY).json()["id"]
    mock.reset()
    os.makedirs(SHOTS, exist_ok=True)
    p = subprocess.run(["node", os.path.join(TOP, "tests", "browser",
                                             "deletion.mjs"),
                        "http://127.0.0.1:%d" % svc.port, mock.url(), phone,
                        lang, SHOTS], capture_output=True, text=True,
                       timeout=120, cwd=os.path.join(TOP, "tests", "browser"))
    expect(p.returncode == 0, "browser: %s %s", p.stdout, p.stderr[-2000:])
    seen = json.loads(p.stdout.strip().splitlines()[-1])["seen"]
    expect_problem(svc.get("/v1/otp/" + otp, key=KEY), 404, "not_found")
    for shot in ("privacy", "deletion", "code", "wrong", "done", "status"):
        f = os.path.join(SHOTS, "%s-%s.png" % (shot, lang))
        expect(os.path.getsize(f) > 5000, "no screenshot %s", f)
    return seen


def test_browser_walks_the_deletion_flow_in_english():
    seen = run_browser("en")
    expect(seen["dir"] == "ltr" and "not right" in seen["wrongError"], "%r",
           seen)
    expect(seen["status"].startswith("Completed"), "%r", seen)


def test_browser_walks_the_deletion_flow_in_arabic():
    seen = run_browser("ar")
    expect(seen["dir"] == "rtl" and seen["lang"] == "ar", "%r", seen)
    expect(seen["status"].startswith("مكتمل"), "%r", seen)
