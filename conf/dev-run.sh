#!/bin/sh
# make run: a local development service in dev/ (git-ignored): a
# configuration on the console channel, a database and secrets, a demo
# application with a fresh key, and lighttpd on 127.0.0.1:8080 in the
# foreground.  Run from the top of the source tree.
set -e
top=$(pwd)
dev=$top/dev
port=${PORT:-8080}
mkdir -p "$dev"
chmod 700 "$dev"

if [ ! -f "$dev/otp.conf" ]; then
	sed -e "s|^base_url = .*|base_url = http://127.0.0.1:$port|" \
	    -e "s|^database = .*|database = $dev/otp.db|" \
	    -e "s|^secrets = .*|secrets = $dev/secrets|" \
	    -e "s|^require_https = .*|require_https = no   # development only|" \
	    -e "s|^channel = .*|channel = console|" \
	    -e "s|^console_file = .*|console_file = $dev/console.jsonl|" \
	    -e "s|^phone_number_id = .*|phone_number_id =|" \
	    conf/otp.conf.example > "$dev/otp.conf"
fi
./otpctl -c "$dev/otp.conf" init >/dev/null

# One demo application; each run rotates its key, so no key is kept.
if [ -s "$dev/demo.app" ]; then
	out=$(./otpctl -c "$dev/otp.conf" key rotate "$(cat "$dev/demo.app")")
else
	out=$(./otpctl -c "$dev/otp.conf" app create demo)
	echo "$out" | sed -n 's/^app_id: //p' > "$dev/demo.app"
fi
key=$(echo "$out" | sed -n 's/^api_key: //p')

cat > "$dev/lighttpd.conf" <<CONF
server.document-root = "$top/www"
server.bind          = "127.0.0.1"
server.port          = $port
server.errorlog      = "$dev/error.log"
server.pid-file      = "$dev/lighttpd.pid"
var.otp_fcgi   = "$top/cgi-bin/otp.fcgi"
var.otp_config = "$dev/otp.conf"
var.otp_socket = "$dev/otp.sock"
include "$top/conf/lighttpd-otp.conf"
CONF
touch "$dev/console.jsonl"

cat <<MSG

Baghdad OTP is running on http://127.0.0.1:$port (Ctrl-C stops it).

  demo application: $(cat "$dev/demo.app")
  API key (shown once; a new one each make run): $key
  pages: http://127.0.0.1:$port/privacy  http://127.0.0.1:$port/data-deletion
  codes are written to: $dev/console.jsonl
  otp.fcgi logs here; lighttpd logs to $dev/error.log

Try:
  curl -s http://127.0.0.1:$port/healthz
  curl -s -X POST http://127.0.0.1:$port/v1/otp \\
       -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
       -d '{"phone":"07701234567"}'
  tail -1 $dev/console.jsonl
  curl -s -X POST http://127.0.0.1:$port/v1/otp/verify \\
       -H 'Authorization: Bearer $key' -H 'Content-Type: application/json' \\
       -d '{"phone":"07701234567","code":"123456"}'

MSG
exec lighttpd -D -f "$dev/lighttpd.conf"
