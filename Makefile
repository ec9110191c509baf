# Makefile for the cqrs_conf PostgreSQL extension (PGXS)

EXTENSION = cqrs_conf
EXTVERSION = 0.1.0

MODULE_big = cqrs_conf
SRCS = $(sort $(wildcard src/*.c src/*/*.c))
OBJS = $(SRCS:.c=.o)

# The install script is assembled from one file per concern.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql

PG_CPPFLAGS = -I$(srcdir)/src
# -MMD: rebuild an object when a header it includes changes.  In CFLAGS,
# not CPPFLAGS: the bitcode (.bc) compile of the same source would
# overwrite the .d file with its own target, losing the object's.
PG_CFLAGS = -MMD -MP -Wall -Wmissing-prototypes -Wpointer-arith -Wendif-labels \
	-Wformat-security -Wno-unused-parameter
ifdef WERROR
PG_CFLAGS += -Werror
endif

# Regression tests: a private cluster with the library preloaded.
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=tmp_check_regress \
	--temp-config=$(srcdir)/test/cqrs_conf.conf \
	--load-extension=$(EXTENSION)

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=$(srcdir)/test/isolation \
	--temp-instance=tmp_check_iso \
	--temp-config=$(srcdir)/test/cqrs_conf.conf \
	--load-extension=$(EXTENSION)

TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

EXTRA_CLEAN = $(OBJS:.o=.d) tmp_check_regress tmp_check_iso output_iso results \
	regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

-include $(OBJS:.o=.d)

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PARTS)
	cat $^ > $@

.PHONY: regresscheck isolationcheck tapcheck indent

regresscheck:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

isolationcheck:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

tapcheck:
	$(prove_installcheck)

# pgindent layout through pg_bsd_indent (Debian package pg-bsd-indent).
indent:
	pg_bsd_indent -bad -bap -bbb -bc -bl -cli1 -cp33 -cdb -nce -d0 -di12 \
		-nfc1 -i4 -l79 -lp -lpl -nip -npro -sac -tpg -ts4 \
		-U$(srcdir)/src/typedefs.list $(SRCS) $(wildcard src/*.h src/*/*.h)
