"""The binary behind nginx and Apache (mod_proxy_fcgi), as the shipped
snippets in conf/ set them up: otp.fcgi --listen on a unix socket, the
web server passing REQUEST_URI, the Authorization header and the body."""

import os
import shutil
import subprocess
import time

from otptest import (BASE_CONF, FCGI, OTPCTL, OUT, Response, expect,
                     expect_problem, free_port, merge, sanitizer_env,
                     assert_no_sanitizer_reports, write_conf)
import http.client
import json

DIR = os.path.join(OUT, "webservers")
SOCK = os.path.join(DIR, "otp.sock")
fcgi = None
KEY = None


def setup_module():
    global fcgi, KEY
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR)
    os.chmod(DIR, 0o755)
    conf = os.path.join(DIR, "otp.conf")
    write_conf(conf, merge(BASE_CONF, {
        "service": {"database": os.path.join(DIR, "otp.db"),
                    "secrets": os.path.join(DIR, "secrets")},
        "otp": {"resend_cooldown": "0"},
        "whatsapp": {"console_file": os.path.join(DIR, "console.jsonl")}}))
    env = dict(os.environ, **sanitizer_env(DIR))
    subprocess.run([OTPCTL, "-c", conf, "init"], check=True, env=env,
                   capture_output=True)
    p = subprocess.run([OTPCTL, "-c", conf, "app", "create", "ws", "--json"],
                       check=True, env=env, capture_output=True, text=True)
    KEY = json.loads(p.stdout)["api_key"]
    log = open(os.path.join(DIR, "otp.log"), "w")
    fcgi = subprocess.Popen([FCGI, "-c", conf, "--listen", SOCK,
                             "--threads", "2"], env=env, stderr=log)
    log.close()
    for _ in range(200):
        if os.path.exists(SOCK):
            break
        time.sleep(0.05)
    os.chmod(SOCK, 0o666)   # Apache's workers are www-data


def teardown_module():
    fcgi.terminate()
    fcgi.wait()
    assert_no_sanitizer_reports(DIR)


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return Response(r.status, r.getheaders(),
                        r.read().decode("utf-8", "replace"))
    finally:
        c.close()


def wait_up(port):
    for _ in range(200):
        try:
            return request(port, "GET", "/healthz")
        except OSError:
            time.sleep(0.05)
    raise AssertionError("web server did not start")


def exercise(port):
    r = wait_up(port)
    expect(r.status == 200 and r.json() == {"status": "ok"}, "%r", r)
    r = request(port, "POST", "/v1/otp", body='{"phone": "07701234567"}',
                headers={"Content-Type": "application/json",
                         "Authorization": "Bearer " + KEY})
    expect(r.status == 201, "API key or body not passed: %r", r)
    otp = r.json()["id"]
    r = request(port, "GET", "/v1/otp/" + otp,
                headers={"Authorization": "Bearer " + KEY})
    expect(r.status == 200 and r.json()["id"] == otp, "%r", r)
    expect_problem(request(port, "GET", "/v1/otp/" + otp), 401,
                   "unauthorized")
    r = request(port, "GET", "/privacy?lang=ar")
    expect(r.status == 200 and 'dir="rtl"' in r.body, "%r", r)
    expect_problem(request(port, "GET", "/nope"), 404, "not_found")


def test_behind_nginx():
    port = free_port()
    d = os.path.join(DIR, "nginx")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %(d)s/body;
    fastcgi_temp_path %(d)s/fastcgi;
    proxy_temp_path %(d)s/proxy;
    scgi_temp_path %(d)s/scgi;
    uwsgi_temp_path %(d)s/uwsgi;
    server {
        listen 127.0.0.1:%(port)d;
        client_max_body_size 1040k;
        location / {
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:%(sock)s;
        }
    }
}
""" % {"d": d, "port": port, "sock": SOCK})
    web = subprocess.Popen(["nginx", "-c", conf, "-p", d],
                           stderr=subprocess.DEVNULL)
    try:
        exercise(port)
    finally:
        web.terminate()
        web.wait()


def test_behind_apache_mod_proxy_fcgi():
    port = free_port()
    d = os.path.join(DIR, "apache")
    os.makedirs(d, exist_ok=True)
    mods = "/usr/lib/apache2/modules"
    conf = os.path.join(d, "httpd.conf")
    with open(conf, "w") as f:
        f.write("""ServerRoot %(d)s
ServerName localhost
Listen 127.0.0.1:%(port)d
PidFile %(d)s/httpd.pid
ErrorLog %(d)s/error.log
LogLevel warn
User www-data
Group www-data
LoadModule mpm_event_module %(m)s/mod_mpm_event.so
LoadModule authz_core_module %(m)s/mod_authz_core.so
LoadModule proxy_module %(m)s/mod_proxy.so
LoadModule proxy_fcgi_module %(m)s/mod_proxy_fcgi.so
LimitRequestBody 1064960
<Location "/">
    CGIPassAuth On
</Location>
ProxyPass "/" "unix:%(sock)s|fcgi://localhost/"
""" % {"d": d, "port": port, "m": mods, "sock": SOCK})
    web = subprocess.Popen(["apache2", "-f", conf, "-DFOREGROUND"],
                           stderr=subprocess.DEVNULL)
    try:
        exercise(port)
    finally:
        web.terminate()
        web.wait()
