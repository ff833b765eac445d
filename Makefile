# make test: venv + system packages + lint + types + tests.   make demo: the sandbox demo.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# Debian packages the demo needs: PostgreSQL's server and pam_python for the IAM login
# emulation; the tests also need chromium, to render the access-review page.
DEMO_PACKAGES := postgresql libpam-python
SYSTEM_PACKAGES := $(DEMO_PACKAGES) chromium

.PHONY: test demo lint system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,demo]'
	touch $(STAMP)

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
