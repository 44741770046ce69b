# Postern: the two commands are `make run` and `make test`.
BUILD      ?= build
TEST_BUILD ?= build-test
PYTHON     ?= /usr/bin/python3

.PHONY: all build run test unit integration fuzz format lint bench bench-imap clean install install-files

all: build

build:
	@scripts/deps build
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(BUILD)

# Builds, writes a demo configuration under ./demo and runs the daemon in the foreground.
run: build
	@scripts/demo $(BUILD)/postern

# Sanitized (ASan+UBSan) clang build; unit, integration and fuzz-smoke suites through ctest.
# The gcc release build is checked too (it is what make run uses).
test: build
	@scripts/deps test
	@cmake -S . -B $(TEST_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=clang \
		-DPOSTERN_SANITIZE=ON -DPOSTERN_FUZZ=ON >/dev/null
	@ninja -C $(TEST_BUILD)
	@cd $(TEST_BUILD) && ctest --output-on-failure --timeout 1800 $(CTEST_ARGS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

lint:
	@clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')
	@cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --std=c11 -Isrc src

bench: build
	@bench/run $(BUILD)/postern

# IMAP against Dovecot (bench/README.md); ~15 min, as root.
bench-imap: build
	@bench/imap_run $(BUILD)/postern

# Installs postern, sendmail and mailq (as names of postern), the systemd
# unit, the README and, where absent, a configuration that `postern check`
# accepts: postern.conf, an empty users file (password hashes: 0640, group
# postern) and an empty aliases file. DESTDIR=/some/dir installs into a
# staging tree. make install also creates the postern user (as root).
POSTERN_BIN ?= $(BUILD)/postern
install: build
	@scripts/deps install
	@$(MAKE) --no-print-directory install-files

install-files:
	install -D -m 0755 $(POSTERN_BIN) $(DESTDIR)/usr/sbin/postern
	ln -sfn postern $(DESTDIR)/usr/sbin/sendmail
	install -d $(DESTDIR)/usr/bin $(DESTDIR)/etc/postern
	ln -sfn ../sbin/postern $(DESTDIR)/usr/bin/mailq
	install -D -m 0644 contrib/postern.service $(DESTDIR)/lib/systemd/system/postern.service
	install -D -m 0644 README.md $(DESTDIR)/usr/share/doc/postern/README.md
	[ -e $(DESTDIR)/etc/postern/postern.conf ] || install -m 0644 contrib/postern.conf $(DESTDIR)/etc/postern/postern.conf
	[ -e $(DESTDIR)/etc/postern/aliases ] || install -m 0644 /dev/null $(DESTDIR)/etc/postern/aliases
	[ -e $(DESTDIR)/etc/postern/users ] || { install -m 0640 /dev/null $(DESTDIR)/etc/postern/users && \
		if getent group postern >/dev/null; then chgrp postern $(DESTDIR)/etc/postern/users; fi; }

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
