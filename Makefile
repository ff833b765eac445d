# make test: venv + system packages + lint + types + tests.   make demo: the sandbox demo.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Everything make test and make demo install is pinned, with hashes, in LOCK (make lock writes it
# from pyproject.toml and CONSTRAINTS). make test-latest tries the newest releases in LATEST.
LOCK        := requirements/lock.txt
CONSTRAINTS := requirements/constraints.txt
UV_VERSION  := 0.13.9
LATEST      := .venv-latest
# Debian packages the demo needs: PostgreSQL's server and pam_python for the IAM login
# emulation; the tests also need chromium, to render the access-review page.
DEMO_PACKAGES := postgresql libpam-python
SYSTEM_PACKAGES := $(DEMO_PACKAGES) chromium

.PHONY: test demo lint lock test-latest test-future system-deps clean

$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r $(LOCK)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

# uv resolves the dev and demo extras for Python 3.11 on any platform; the header carries the
# reasons for every bound in CONSTRAINTS, so the lock says why a package is held back.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install -q uv==$(UV_VERSION)
	{ echo "# Written by make lock from pyproject.toml (extras dev, demo) and $(CONSTRAINTS)."; \
	  echo "# Held back for the test stack:"; \
	  grep -v -e '^$$' -e '^##' $(CONSTRAINTS) | sed 's/^\([^#]\)/#   \1/'; \
	  .venv-lock/bin/uv pip compile -q pyproject.toml --extra dev --extra demo \
	    -c $(CONSTRAINTS) --python-version 3.11 --generate-hashes --no-header; \
	} > $(LOCK).tmp
	mv $(LOCK).tmp $(LOCK)
	rm -rf .venv-lock

# As root on Debian, install whatever is missing; otherwise the fixtures say what is.
system-deps:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  missing=""; \
	  for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy --strict monitor

test: system-deps lint
	$(BIN)/python -m pytest

# The whole pipeline on an embedded sandbox: no AWS account, nothing left running afterwards.
demo: SYSTEM_PACKAGES := $(DEMO_PACKAGES)
demo: system-deps $(STAMP)
	$(BIN)/pgwarden demo --out demo-output

# The suite against the newest releases pyproject.toml allows, to see drift before it reaches
# the lock. Not part of CI.
test-latest: system-deps
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install -q --upgrade -e '.[dev,demo]'
	$(LATEST)/bin/python -m pip list 2>/dev/null | grep -iE '^(boto3|botocore|moto|psycopg|duckdb|sqlglot|slack.sdk) '
	$(LATEST)/bin/python -m pytest

# The suite with the wall clock 60 days ahead, to show that no test depends on today's date.
# datefudge moves the wall clock only; Debian 12's libfaketime (0.9.10) also moves the
# monotonic clock, and Python 3.11's timed waits (sem_clockwait) then never return.
test-future: SYSTEM_PACKAGES += datefudge
test-future: system-deps $(STAMP)
	datefudge "$$(date -u -d '+60 days' '+%Y-%m-%d %H:%M:%S') UTC" $(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(LATEST) .mypy_cache .ruff_cache .pytest_cache .hypothesis
