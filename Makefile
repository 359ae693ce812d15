# LGSP top-level build.  `make` builds the nginx module and the control
# plane; `make run` brings the platform up; `make test` runs every test.

SHELL      := /bin/bash
NGINX_SRC  ?= /usr/share/nginx/src
CC         ?= cc
CFLAGS     ?= -O2 -g

# SANITIZE=1 (`make test SANITIZE=1`): everything make test runs built with
# ASan and UBSan into build-san/, so the two builds never share an object;
# the harness runs what LGSP_BUILD names.  clang, whose one runtime holds
# both sanitizers and so writes UBSan's reports where ASan's go (gcc 12's
# UBSan ignores log_path beside ASan).  The module runs in the stock nginx
# with that runtime preloaded (nginx-dev has no .c files to link a
# sanitized nginx from): docs/performance.md, "Sanitizers".
ifeq ($(SANITIZE),1)
BUILD      := build-san
CC         := clang
# The ODR indicator registers each global through a private alias: the
# module's ngx_modules[] (2 entries) then no longer poisons the binary's
# same-named array, which nginx copies on every reload.
SAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer \
              -fno-sanitize-recover=undefined \
              -fsanitize-address-use-odr-indicator
override CFLAGS += $(SAN_FLAGS)
export LGSP_PRELOAD := $(shell $(CC) -print-file-name=libclang_rt.asan-$(shell uname -m).so)
# Leaks are checked in every program but nginx (the harness turns them
# off there); t/lsan.supp lists only third-party leaks, each with its why.
export ASAN_OPTIONS  := detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1
export UBSAN_OPTIONS := print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS  := suppressions=$(CURDIR)/t/lsan.supp:print_suppressions=0
else
BUILD      := build
endif
export LGSP_BUILD := $(CURDIR)/$(BUILD)

NGX_BUILD  := $(BUILD)/nginx
MODULE_SO  := $(NGX_BUILD)/objs/ngx_http_lgsp_module.so
PROJECT_CFLAGS := -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
                  -Ischemas -Ingx_lgsp_module/src -Icontrol-plane/lib \
                  -I$(BUILD)/gen $(shell pkg-config --cflags libcjson 2>/dev/null)
CP_LIBS    := -lsqlite3 -ljwt -lcjson -lmicrohttpd -lcurl -lssl -lcrypto -lz -lpthread -lm

# Pure (nginx-free) logic of the module: linked by the unit tests and by the
# control plane, so both halves agree on layouts and encodings.
PURE_SRCS  := $(wildcard ngx_lgsp_module/src/lgsp_*.c)
PURE_OBJS  := $(PURE_SRCS:%.c=$(BUILD)/obj/%.o)
MOD_SRCS   := $(wildcard ngx_lgsp_module/src/*.c ngx_lgsp_module/src/*.h schemas/*.h)

CPLIB_SRCS := $(wildcard control-plane/lib/*.c)
CPLIB_OBJS := $(CPLIB_SRCS:%.c=$(BUILD)/obj/%.o)
LGSPD_OBJS := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard control-plane/lgspd/*.c))
CTL_OBJS   := $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard control-plane/lgspctl/*.c))
UNIT_SRCS  := $(wildcard t/unit/test_*.c)
UNIT_OBJS  := $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/t/unit/run.o
SQL_FILES  := $(sort $(wildcard schemas/sql/*.sql))
AUDIT_SQL  := $(sort $(wildcard schemas/sql-audit/*.sql))
HEALTH_SQL := $(sort $(wildcard schemas/sql-health/*.sql))
FORM_JSON  := $(sort $(wildcard schemas/forms/form-*.schema.json))
GEN_HDRS   := $(BUILD)/gen/lgsp_migrations.h $(BUILD)/gen/lgsp_audit_migrations.h \
              $(BUILD)/gen/health_migrations.h $(BUILD)/gen/lgsp_form_schemas.h

BINS := $(BUILD)/bin/lgspd $(BUILD)/bin/lgspctl

.PHONY: all setup run test unit integration bench fuzz clean format

all: $(MODULE_SO) $(BINS)

setup:
	@scripts/setup

# --- the nginx module, against Debian's nginx-dev, out of tree ------------
# nginx's configure writes into the tree it runs in, so it runs in a copy.
# The module's file list is read at configure time: adding or removing a
# source file (the directory's mtime moves) configures again.
$(NGX_BUILD)/objs/Makefile: ngx_lgsp_module/config ngx_lgsp_module/src schemas $(NGINX_SRC)/conf_flags
	@rm -rf $(NGX_BUILD) && mkdir -p $(NGX_BUILD)
	@cp -a $(NGINX_SRC)/. $(NGX_BUILD)/
	@cd $(NGX_BUILD) && source ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc="$(CC)" \
	    --with-cc-opt="-O2 -g -Wextra -Wno-unused-parameter -Werror -fPIC $(SAN_FLAGS)" \
	    --with-ld-opt="$(SAN_FLAGS)" \
	    --add-dynamic-module=$(CURDIR)/ngx_lgsp_module >configure.log 2>&1 \
	    || { cat configure.log; exit 1; }

$(MODULE_SO): $(NGX_BUILD)/objs/Makefile $(MOD_SRCS)
	@$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile modules >/dev/null
	@touch $@
	@echo "built $@"

# --- the control plane ----------------------------------------------------
$(BUILD)/gen/lgsp_migrations.h: $(SQL_FILES) scripts/sql2c
	@mkdir -p $(@D)
	@scripts/sql2c $(SQL_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/lgsp_audit_migrations.h: $(AUDIT_SQL) scripts/sql2c
	@mkdir -p $(@D)
	@scripts/sql2c -n lgsp_audit_migrations $(AUDIT_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/health_migrations.h: $(HEALTH_SQL) scripts/sql2c
	@mkdir -p $(@D)
	@scripts/sql2c -n health_migrations $(HEALTH_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/lgsp_form_schemas.h: $(FORM_JSON) scripts/forms2c
	@mkdir -p $(@D)
	@scripts/forms2c $(FORM_JSON) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c | $(GEN_HDRS)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(PROJECT_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libpure.a: $(PURE_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/libcp.a: $(CPLIB_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/lgspd: $(LGSPD_OBJS) $(BUILD)/libcp.a $(BUILD)/libpure.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(CP_LIBS)

$(BUILD)/bin/lgspctl: $(CTL_OBJS) $(BUILD)/libcp.a $(BUILD)/libpure.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(CP_LIBS)

# --- tests ----------------------------------------------------------------
# Each t/unit/test_*.c exports `Suite *NAME_suite(void)`; the runner's list
# is generated from them so adding a test file needs no edit here.
$(BUILD)/gen/unit_suites.h: $(UNIT_SRCS)
	@mkdir -p $(@D)
	@grep -ho '^[a-z_0-9]*_suite(void)' $(UNIT_SRCS) | sed 's/(void)//; s/.*/LGSP_SUITE(&)/' > $@.tmp
	@mv $@.tmp $@

$(BUILD)/obj/t/unit/run.o: $(BUILD)/gen/unit_suites.h

$(BUILD)/bin/unit: $(UNIT_OBJS) $(BUILD)/libcp.a $(BUILD)/libpure.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -pthread -o $@ $^ $(shell pkg-config --libs check) $(CP_LIBS)

# Tools that exist only for the tests: under build/t/bin, never installed.
$(BUILD)/t/bin/spoolgen: $(BUILD)/obj/t/tools/spoolgen.o $(BUILD)/libcp.a $(BUILD)/libpure.a
	@mkdir -p $(@D)
	@echo "  LINK    $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(CP_LIBS)

TEST_TOOLS := $(BUILD)/t/bin/spoolgen

unit: setup all $(BUILD)/bin/unit
	@echo "== unit tests (Check)"
	@$(BUILD)/bin/unit

integration: setup all $(TEST_TOOLS)
	@echo "== integration tests (prove)"
	@prove -I t/lib t/*.t

test: setup all $(BUILD)/bin/unit $(TEST_TOOLS)
	@echo "== unit tests (Check)"
	@$(BUILD)/bin/unit
	@echo "== integration tests (prove)"
	@prove -I t/lib t/*.t

run: setup all
	@scripts/run

# --- fuzzing (clang + libFuzzer; not part of make test) -------------------
# The fuzz build skips the checksum compare so mutations reach the
# structure checks; seeds are snapshots lgspd compiled from a demo home.
FUZZ_SECONDS ?= 60
$(BUILD)/bin/fuzz_snapshot: t/fuzz/fuzz_snapshot.c ngx_lgsp_module/src/lgsp_snapshot.c ngx_lgsp_module/src/lgsp_snapshot.h schemas/lgsp_snapshot_format.h
	@mkdir -p $(@D)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -Ischemas -Ingx_lgsp_module/src \
	    t/fuzz/fuzz_snapshot.c ngx_lgsp_module/src/lgsp_snapshot.c -lcrypto -o $@

# UBSan stops at its first report, so a run that ends clean had none.
FUZZ_CC := clang -g -O1 -fsanitize=fuzzer,address,undefined \
           -fno-sanitize-recover=undefined -Ischemas -Ingx_lgsp_module/src
# targets over control-plane code: its headers, the generated ones, cJSON
# (uninstrumented: only our code is)
FUZZ_CP := $(FUZZ_CC) -std=gnu11 -D_GNU_SOURCE -Icontrol-plane/lib -I$(BUILD)/gen \
           $(shell pkg-config --cflags libcjson 2>/dev/null)

$(BUILD)/bin/fuzz_jwt: t/fuzz/fuzz_jwt.c $(wildcard ngx_lgsp_module/src/lgsp_jwt*.[ch])
	@mkdir -p $(@D)
	$(FUZZ_CC) t/fuzz/fuzz_jwt.c $(wildcard ngx_lgsp_module/src/lgsp_jwt*.c) -lcrypto -o $@

$(BUILD)/bin/fuzz_tcache: t/fuzz/fuzz_tcache.c ngx_lgsp_module/src/lgsp_tcache.c ngx_lgsp_module/src/lgsp_tcache.h
	@mkdir -p $(@D)
	$(FUZZ_CC) t/fuzz/fuzz_tcache.c ngx_lgsp_module/src/lgsp_tcache.c -o $@

$(BUILD)/bin/fuzz_spool: t/fuzz/fuzz_spool.c ngx_lgsp_module/src/lgsp_spool.c ngx_lgsp_module/src/lgsp_spool.h schemas/lgsp_audit.h
	@mkdir -p $(@D)
	$(FUZZ_CC) t/fuzz/fuzz_spool.c ngx_lgsp_module/src/lgsp_spool.c -o $@

$(BUILD)/bin/fuzz_path: t/fuzz/fuzz_path.c ngx_lgsp_module/src/lgsp_path.c ngx_lgsp_module/src/lgsp_path.h
	@mkdir -p $(@D)
	$(FUZZ_CC) t/fuzz/fuzz_path.c ngx_lgsp_module/src/lgsp_path.c -o $@

FUZZ_CLIENTAUTH := control-plane/lib/cp_clientauth.c control-plane/lib/cp_b64.c \
                   control-plane/lib/cp_text.c
$(BUILD)/bin/fuzz_clientauth: t/fuzz/fuzz_clientauth.c $(FUZZ_CLIENTAUTH) control-plane/lib/cp_clientauth.h
	@mkdir -p $(@D)
	$(FUZZ_CP) t/fuzz/fuzz_clientauth.c $(FUZZ_CLIENTAUTH) -lcjson -lcrypto -o $@

FUZZ_FORMS := control-plane/lib/cp_forms.c control-plane/lib/cp_jschema.c \
              control-plane/lib/cp_text.c control-plane/lib/cp_util.c
$(BUILD)/bin/fuzz_forms: t/fuzz/fuzz_forms.c $(FUZZ_FORMS) control-plane/lib/cp_forms.h \
                         control-plane/lib/cp_jschema.h $(BUILD)/gen/lgsp_form_schemas.h
	@mkdir -p $(@D)
	$(FUZZ_CP) t/fuzz/fuzz_forms.c $(FUZZ_FORMS) -lcjson -lm -o $@

FUZZ_RECONCILE := control-plane/lib/cp_reconcile.c control-plane/lib/cp_text.c \
                  control-plane/lib/cp_time.c
$(BUILD)/bin/fuzz_reconcile: t/fuzz/fuzz_reconcile.c $(FUZZ_RECONCILE) control-plane/lib/cp_reconcile.h
	@mkdir -p $(@D)
	$(FUZZ_CP) t/fuzz/fuzz_reconcile.c $(FUZZ_RECONCILE) -o $@

FUZZ_JWKS := control-plane/lib/cp_jwks.c control-plane/lib/cp_jwk.c control-plane/lib/cp_b64.c \
             $(wildcard ngx_lgsp_module/src/lgsp_jwt*.c)
$(BUILD)/bin/fuzz_jwks: t/fuzz/fuzz_jwks.c $(FUZZ_JWKS) control-plane/lib/cp_jwks.h control-plane/lib/cp_jwk.h
	@mkdir -p $(@D)
	$(FUZZ_CP) t/fuzz/fuzz_jwks.c $(FUZZ_JWKS) -lcjson -lcrypto -o $@

# Each fuzzer runs FUZZ_SECONDS on its seed corpus, copied into
# build/fuzz/NAME where it grows from run to run; its output goes to
# build/fuzz/NAME.log and its last status line is shown.  A crash or a
# sanitizer report fails the run, the input kept as build/fuzz/crash-*.
# `make -j2 fuzz` runs two at once.
FUZZERS := snapshot jwt tcache spool path clientauth forms reconcile jwks
FUZZ_OPTS_snapshot   := -max_len=65536
FUZZ_OPTS_jwt        := -max_len=9000
FUZZ_OPTS_tcache     := -max_len=4096
FUZZ_OPTS_spool      := -max_len=8192 -timeout=10
FUZZ_OPTS_path       := -max_len=8192 -dict=t/fuzz/path.dict
FUZZ_OPTS_clientauth := -max_len=17000 -dict=t/fuzz/clientauth.dict
FUZZ_OPTS_forms      := -max_len=65536 -timeout=10 -dict=t/fuzz/json.dict
FUZZ_OPTS_reconcile  := -max_len=16384 -dict=t/fuzz/reconcile.dict
FUZZ_OPTS_jwks       := -max_len=16384 -timeout=10 -dict=t/fuzz/json.dict
# seeds besides t/fuzz/corpus/NAME: the form fixtures, and snapshots that
# lgspd compiles from a demo home (scripts/fuzz-seeds)
FUZZ_SEEDS_forms     := t/fixtures/forms/*/*.json

fuzz: $(FUZZERS:%=fuzz-%)

fuzz-snapshot: $(BUILD)/fuzz/snapshot/seed-1
$(BUILD)/fuzz/snapshot/seed-1: | $(MODULE_SO) $(BINS)
	@scripts/fuzz-seeds $(@D)

fuzz-%: $(BUILD)/bin/fuzz_%
	@mkdir -p $(BUILD)/fuzz/$*
	@if [ -d t/fuzz/corpus/$* ]; then cp -r t/fuzz/corpus/$*/. $(FUZZ_SEEDS_$*) $(BUILD)/fuzz/$*/; fi
	@echo "  FUZZ    $* for $(FUZZ_SECONDS) s ($(BUILD)/fuzz/$*.log)"
	@$< -max_total_time=$(FUZZ_SECONDS) $(FUZZ_OPTS_$*) -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/fuzz/$* > $(BUILD)/fuzz/$*.log 2>&1 \
	    || { tail -40 $(BUILD)/fuzz/$*.log; exit 1; }
	@grep -E '^#[0-9]+[[:space:]]+DONE' $(BUILD)/fuzz/$*.log | sed 's/^/  $*: /'

bench: setup all
	@scripts/bench
	@scripts/bench-scale
	@scripts/bench-health 2000 30

format:
	@clang-format -i $(wildcard ngx_lgsp_module/src/lgsp_*.[ch] control-plane/*/*.[ch] t/unit/*.c)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
