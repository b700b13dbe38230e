# The two commands: `make run` (the whole platform) and `make test` (the whole suite + lint).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
# The browser tests (tests/browser/) drive Debian's chromium with Playwright; Playwright's own
# browser download is never used.
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BIN := $(VENV)/bin

.PHONY: run test deps lint format reset-demo-password clean

run: deps
	$(BIN)/python -m voiceplatform.devservices run

test: deps $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n 2 --dist loadfile

deps: $(VENV)/.installed static/vendor/.installed

$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "Python 3.11+ is needed: run make PYTHON=/path/to/python3.11"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

static/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/
	cp node_modules/livekit-client/dist/livekit-client.umd.js static/vendor/
	touch $@

$(CHROMIUM):
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

lint: deps
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: deps
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

reset-demo-password: deps
	$(BIN)/python -m voiceplatform.devservices exec -- $(BIN)/python manage.py seed_demo --reset-password

clean:
	rm -rf $(VENV) node_modules static/vendor .local/staticfiles
