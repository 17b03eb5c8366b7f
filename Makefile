# The two commands a newcomer needs: `make demo` and `make test`.
# Each creates the virtualenv and installs everything first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint venv clean

$(STAMP): pyproject.toml
	@command -v git >/dev/null || { echo "git is required (apt-get install git)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	@command -v bwrap >/dev/null || { echo "bubblewrap is required: every playbook runs in its sandbox (apt-get install bubblewrap)"; exit 1; }
	@command -v pasta >/dev/null || { echo "pasta is required: it connects the sandbox's private network (apt-get install passt)"; exit 1; }
	$(BIN)/zuulish demo $(DEMO_ARGS)

# Tests run in parallel, one worker per core (pytest-xdist); the 20 slowest are
# listed at the end of every run. TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto

test: $(STAMP)
	$(BIN)/pytest -q -n $(TEST_WORKERS) --durations=20 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .zuulish-demo .pytest_cache
