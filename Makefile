# Baghdad OTP.  make; make check; make run; make bench; make install.

PREFIX	?= /usr/local
DESTDIR	?=
CONFDIR	?= /etc/baghdad-otp
CC	?= cc
PKGS	 = fcgi libcurl sqlite3 libsodium json-c
WARN	 = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wwrite-strings -Wpointer-arith -Werror
CFLAGS	?= -O2 -g
CFLAGS	+= -std=c11 -D_GNU_SOURCE -pthread $(WARN) \
	   -DOTP_DEFAULT_CONFIG='"$(CONFDIR)/otp.conf"' \
	   $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	 = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -pthread
SAN	 = -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	   -fno-omit-frame-pointer

LIB	 = api auth buf channel conf db erase idem jparse limit log phone req \
	   page resp route sec sender valid wa www
LIBOBJ	 = $(LIB:%=build/%.o)
TLIBOBJ	 = $(LIB:%=tests/build/%.o)
UNITS	 = $(patsubst tests/%.c,%,$(wildcard tests/t_*.c))
PROGS	 = cgi-bin/otp.fcgi otpctl otp-purge

all: $(PROGS)

build tests/build:
	@mkdir -p $@

build/%.o: src/%.c src/otp.h | build
	$(CC) $(CFLAGS) -c $< -o $@

tests/build/%.o: src/%.c src/otp.h | tests/build
	$(CC) $(CFLAGS) -O1 $(SAN) -c $< -o $@

build/libotp.a: $(LIBOBJ)
	$(AR) rcs $@ $(LIBOBJ)

tests/build/libotp.a: $(TLIBOBJ)
	$(AR) rcs $@ $(TLIBOBJ)

cgi-bin/otp.fcgi: build/main.o build/libotp.a
	$(CC) $(CFLAGS) -o $@ build/main.o build/libotp.a $(LDLIBS)

otpctl: build/otpctl.o build/libotp.a
	$(CC) $(CFLAGS) -o $@ build/otpctl.o build/libotp.a $(LDLIBS)

otp-purge: build/purge.o build/libotp.a
	$(CC) $(CFLAGS) -o $@ build/purge.o build/libotp.a $(LDLIBS)

# The test build: the same programs under AddressSanitizer and UBSan,
# the unit tests, and the trivial responder that benchmarks compare to.
tests/build/otp.fcgi: tests/build/main.o tests/build/libotp.a
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/build/main.o tests/build/libotp.a $(LDLIBS)

tests/build/otpctl: tests/build/otpctl.o tests/build/libotp.a
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/build/otpctl.o tests/build/libotp.a $(LDLIBS)

tests/build/otp-purge: tests/build/purge.o tests/build/libotp.a
	$(CC) $(CFLAGS) $(SAN) -o $@ tests/build/purge.o tests/build/libotp.a $(LDLIBS)

tests/build/t_%: tests/t_%.c tests/t.h tests/build/libotp.a
	$(CC) $(CFLAGS) -O1 $(SAN) -Isrc -o $@ $< tests/build/libotp.a $(LDLIBS)

tests/build/trivial.fcgi: tests/trivial.c | tests/build
	$(CC) $(CFLAGS) -O2 -o $@ tests/trivial.c $(LDLIBS)

tests/build/failsync.so: tests/failsync.c | tests/build
	$(CC) $(CFLAGS) -O2 -shared -fPIC -o $@ tests/failsync.c -ldl

testbuild: tests/build/otp.fcgi tests/build/otpctl tests/build/otp-purge \
	   tests/build/trivial.fcgi tests/build/failsync.so \
	   $(UNITS:%=tests/build/%)

deps:
	@sh tests/deps.sh build

check:
	@sh tests/deps.sh check
	@$(MAKE) -s all testbuild
	@python3 tests/run

run:
	@sh tests/deps.sh run
	@$(MAKE) -s all
	@sh conf/dev-run.sh

bench:
	@sh tests/deps.sh bench
	@$(MAKE) -s all tests/build/trivial.fcgi
	@python3 tests/bench.py

# Fuzz each parser with libFuzzer (clang); FUZZTIME seconds each.
FUZZTIME ?= 60
FUZZERS	 = fuzz_jparse fuzz_req fuzz_conf fuzz_phone
fuzz:
	@mkdir -p tests/build/fuzz
	@for f in $(FUZZERS); do \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -Isrc $$(pkg-config --cflags $(PKGS)) -o tests/build/$$f tests/$$f.c \
	    $(LIB:%=src/%.c) $(LDLIBS) || exit 1; \
	  tests/build/$$f -max_total_time=$(FUZZTIME) -max_len=20000 \
	    tests/build/fuzz || exit 1; \
	done

# The grep that keeps out the functions STYLE.md bans.
lint:
	@! grep -nE '\b(atoi|atol|sprintf|vsprintf|strcpy|strcat|strtok|gets)[[:space:]]*\(' \
	    src/*.c src/*.h tests/*.c || (echo "lint: banned function" && false)
	@echo "lint: ok"

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/baghdad-otp/cgi-bin \
	    $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib/baghdad-otp/www \
	    $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 cgi-bin/otp.fcgi $(DESTDIR)$(PREFIX)/lib/baghdad-otp/cgi-bin/
	install -m 0644 www/*.html www/*.txt www/*.css \
	    $(DESTDIR)$(PREFIX)/lib/baghdad-otp/www/
	install -m 0755 otpctl $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 otp-purge $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 man/otp.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/otp.fcgi.8 man/otpctl.8 man/otp-purge.8 \
	    $(DESTDIR)$(PREFIX)/share/man/man8/

clean:
	rm -rf build tests/build cgi-bin/otp.fcgi otpctl otp-purge

.PHONY: all deps check run bench fuzz lint install clean testbuild
