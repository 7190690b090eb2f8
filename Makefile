# backy - one make builds all tools; see README.md.
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
LOGROTATEDIR ?= /etc/logrotate.d
# the version when git cannot say (no repository): --version of every tool
VERSION := 3.0.0

CC      ?= cc
# CFLAGS and LDFLAGS are the builder's (optimisation, debug info, extra
# flags); the required flags live in BACKY_CFLAGS / BACKY_LDFLAGS, so a
# command-line CFLAGS= cannot drop hardening, warnings or dependencies.
CFLAGS  ?= -O2 -g
BACKY_CFLAGS := -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2 \
           -fstack-protector-strong -fstack-clash-protection -fPIE \
           -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=3 -D_GNU_SOURCE -Iinclude -MMD -MP
BACKY_LDFLAGS := -pie -Wl,-z,relro,-z,now,-z,noexecstack
# WERROR=1 makes warnings errors (make check sets it, so CI does).
ifeq ($(WERROR),1)
BACKY_CFLAGS += -Werror
endif
# SANITIZE=1 builds with ASan/UBSan (the sandbox then allows what they need).
ifeq ($(SANITIZE),1)
BACKY_CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -DBACKY_SANITIZE=1
BACKY_LDFLAGS += -fsanitize=address,undefined
endif

# DEBUG=1: a debug build; only there BACKY_SECCOMP=log lets forbidden calls pass.
ifeq ($(DEBUG),1)
BACKY_CFLAGS += -DBACKY_DEBUG=1
endif

B       := build
TOOLS   := $(notdir $(wildcard cmd/*))
LIBSRC  := $(wildcard libcommon/*.c)
LIBOBJ  := $(LIBSRC:%.c=$(B)/%.o)
UNITSRC := $(wildcard tests/unit/*.c)
UNITBIN := $(UNITSRC:tests/unit/%.c=$(B)/tests/%)
BINS    := $(TOOLS:%=$(B)/bin/%)

# Libraries every tool links; per-tool extras below.
COMMON_LIBS := -lyaml -ljansson -lseccomp -lcap -lxxhash -lpthread -lm
LIBS_backy-backup := -lrbd -lrados -lcurl

# keep the objects: they are not throw-away intermediates
.SECONDARY:

.PHONY: all clean check test install uninstall units deps demo bench fuzz lint FORCE
all: $(BINS) $(UNITBIN)

$(B)/%.o: %.c | $(B)
	@mkdir -p $(dir $@)
	$(CC) $(BACKY_CFLAGS) $(CFLAGS) -Ilibcommon -c -o $@ $<

# header dependencies written by -MMD -MP
-include $(LIBOBJ:.o=.d) $(patsubst %.c,$(B)/%.d,$(wildcard cmd/*/*.c) $(UNITSRC))

# --version: git describe where there is a repository, else VERSION.
# version.h is rewritten only when the string changes.
BACKY_VERSION := $(shell git describe --tags --dirty 2>/dev/null || \
    (h=$$(git rev-parse --short HEAD 2>/dev/null) && echo "$(VERSION)+g$$h") || echo "$(VERSION)")
$(B)/version.h: FORCE | $(B)
	@v='#define BACKY_VERSION "$(BACKY_VERSION)"'; \
	[ "$$(cat $@ 2>/dev/null)" = "$$v" ] || echo "$$v" >$@
$(B)/libcommon/cli.o: $(B)/version.h
$(B)/libcommon/cli.o: BACKY_CFLAGS += -I$(B)
FORCE:

# systemd units with the programs' installed path
UNITS := $(patsubst systemd/%.in,$(B)/systemd/%,$(wildcard systemd/*.in))
$(B)/systemd/%: systemd/%.in
	@mkdir -p $(dir $@)
	sed 's|@BINDIR@|$(BINDIR)|g' $< >$@

$(B)/libcommon.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

.SECONDEXPANSION:
objs_of = $(patsubst %.c,$(B)/%.o,$(wildcard cmd/$(1)/*.c))
$(B)/bin/%: $$(call objs_of,$$*) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(BACKY_CFLAGS) $(CFLAGS) $(BACKY_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(B)/libcommon.a $(LIBS_$*) $(COMMON_LIBS)

# a unit test of a program's own module links that module's object too
OBJS_test_sched_heap := $(B)/cmd/backy-sched/heap.o
$(B)/tests/%: $(B)/tests/unit/%.o $$(OBJS_$$*) $(B)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(BACKY_CFLAGS) $(CFLAGS) $(BACKY_LDFLAGS) $(LDFLAGS) -o $@ $(filter %.o,$^) $(B)/libcommon.a $(COMMON_LIBS)

$(B):
	@mkdir -p $(B)

deps:
	sh sh/deps.sh

# The test command of README.md: installs what is missing, builds, runs
# the C unit tests and the bats suites (tests/lint.bats runs the static
# analysers of make lint, so a finding is a failed test), ends with
# "N passed, N failed".
check: deps
	$(MAKE) all WERROR=1
	sh tests/run.sh

test: check

demo: deps
	$(MAKE) all
	sh sh/demo.sh

bench: deps
	$(MAKE) all
	sh bench/run.sh

# static analysers: cppcheck, clang-tidy (.clang-tidy), scan-build; exit 1 on any
# finding. make check runs them as tests/lint.bats; builds in build.lint/,
# never in $(B).
lint:
	sh sh/lint.sh

# libFuzzer harnesses of the parsers of outside input (FUZZ_SECONDS each)
fuzz:
	sh tests/fuzz/run.sh

# units are made for BINDIR: 'make install' builds them afresh
units:
	rm -rf $(B)/systemd
	$(MAKE) $(UNITS)

install: all units
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	for f in $(wildcard man/*.[1-8]); do \
		s=$${f##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
		install -m 0644 $$f $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0644 $(UNITS) $(DESTDIR)$(SYSTEMDUNITDIR)/
	install -d $(DESTDIR)$(SYSUSERSDIR)
	install -m 0644 systemd/sysusers-backy.conf $(DESTDIR)$(SYSUSERSDIR)/backy.conf
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 completion/backy $(DESTDIR)$(BASHCOMPDIR)/backy
	for t in $(filter-out backy,$(TOOLS)); do \
		ln -sf backy $(DESTDIR)$(BASHCOMPDIR)/$$t || exit 1; \
	done
	install -d $(DESTDIR)$(LOGROTATEDIR)
	install -m 0644 logrotate/backy $(DESTDIR)$(LOGROTATEDIR)/backy

# removes exactly what install put there
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS))
	for f in $(notdir $(wildcard man/*.[1-8])); do \
		rm -f $(DESTDIR)$(MANDIR)/man$${f##*.}/$$f; \
	done
	rm -f $(addprefix $(DESTDIR)$(SYSTEMDUNITDIR)/,$(notdir $(UNITS)))
	rm -f $(DESTDIR)$(SYSUSERSDIR)/backy.conf
	rm -f $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(TOOLS))
	rm -f $(DESTDIR)$(LOGROTATEDIR)/backy

clean:
	rm -rf $(B)
