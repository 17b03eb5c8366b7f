# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates the virtualenv and installs everything first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo sandbox-tools test lint venv clean

$(STAMP): pyproject.toml
	@command -v git >/dev/null || { echo "git is required (apt-get install git)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# bubblewrap (every playbook runs in its sandbox), passt (pasta connects the private
# network of untrusted playbooks) and rsync (synchronize tasks run it on the executor):
# installed here when running as root with apt-get, otherwise the command that
# installs them is printed.
sandbox-tools:
	@missing=""; \
	command -v bwrap >/dev/null 2>&1 || missing="$$missing bubblewrap"; \
	command -v pasta >/dev/null 2>&1 || missing="$$missing passt"; \
	command -v rsync >/dev/null 2>&1 || missing="$$missing rsync"; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing$$missing (apt-get)"; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q$$missing \
			|| exit 1; \
	else \
		echo "zuulish needs$$missing: every playbook runs in bubblewrap's sandbox," \
			"pasta (from passt) connects the sandbox's private network, and" \
			"synchronize tasks run rsync."; \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "Install them with: sudo apt-get install -y$$missing"; \
		else \
			echo "Install the packages$$missing with your system's package manager."; \
		fi; \
		exit 1; \
	fi

demo: sandbox-tools $(STAMP)
	$(BIN)/zuulish demo $(DEMO_ARGS)

# Tests run in parallel, one worker per core (pytest-xdist); the 20 slowest are
# listed at the end of every run. TEST_WORKERS=0 runs them in this process. (Two per
# core was tried: on 2 cores it saved a minute of 19 and timing-sensitive tests failed.)
TEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=20 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .zuulish-demo .pytest_cache
