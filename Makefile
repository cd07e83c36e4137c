# The course's single entry point. Every target creates or refreshes .venv first.
#   make lab                      open JupyterLab on the start-here notebook
#   make test                     unit tests, then nbval on every notebook and the
#                                 browser tests side by side (quick profile)
#   make browser-tests            every notebook in JupyterLab in headless Chromium
#                                 (part of `make test`; needs apt-get install chromium)
#   make course PROFILE=full      run every notebook in place (refreshes committed outputs)
#   make bench                    the speed benchmark command
#   make student                  the student release, build/student/ (docs/teaching.md)
#   make autograde NB=path        grade a submitted notebook: one line per exercise
#   make slides                   one reveal.js deck per lesson, build/slides/

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= full
# Outer limits: a dead kernel must never hang CI.
NBVAL_TIMEOUT ?= 1500
UNIT_TIMEOUT ?= 900
BROWSER_TIMEOUT ?= 1200
JOBS ?= 2

.PHONY: venv lab test unit-tests notebook-tests browser-tests course bench lint format clean \
	student autograde slides

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@# pip compiles the bytecode one file at a time; compileall uses every core (the
	@# install: 56 s -> 51 s on 2 cores).
	$(BIN)/python -m pip install --quiet --no-compile -e ".[dev,teach]"
	$(BIN)/python -m compileall -q -j 0 "$$($(BIN)/python -c \
		'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null
	@# Offline slides: reveal.js and MathJax from npm, once, at install time.
	-$(BIN)/python -c "from course_lib import slides; slides.vendor_assets('build/slides')"
	@touch $(STAMP)

lab: venv
	$(BIN)/jupyter lab notebooks/00_start_here.ipynb

# nbval and the browser pass run side by side: the browser pass leaves a core idle
# most of the time (it waits for pages), and nbval fills it. Each one's output is
# printed whole when it ends (--output-sync).
test: unit-tests
	$(MAKE) --no-print-directory -j2 --output-sync=target notebook-tests browser-tests

# One TensorFlow thread pool thread per xdist worker: two workers on two cores would
# otherwise run four busy threads. (Measured: 234 s and 256 s, against 264 s without,
# but not back to back: the gain is within the machine's own variation.)
unit-tests: venv
	COURSE_PROFILE=quick TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \
		timeout $(UNIT_TIMEOUT) $(BIN)/python -m pytest -n $(JOBS) tests \
		--ignore=tests/browser --durations=12

notebook-tests: venv
	COURSE_PROFILE=quick timeout $(NBVAL_TIMEOUT) $(BIN)/python -m pytest \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 \
		-n $(JOBS) --dist loadfile notebooks --durations=5 \
		--ignore-glob='notebooks/_*'  # the browser pass's scratch copies

# One JupyterLab and one Chromium, notebooks one after another (skipped, with the
# reason, where Chromium or Playwright is missing).
browser-tests: venv
	COURSE_PROFILE=quick COURSE_OFFLINE=1 timeout --kill-after=30 $(BROWSER_TIMEOUT) \
		$(BIN)/python -m pytest -p no:xdist -rs tests/browser --durations=8

course: venv
	$(BIN)/python -m course_lib.runner --profile $(PROFILE)

bench: venv
	$(BIN)/python -m course_lib.bench

student: venv
	$(BIN)/python -m course_lib.classroom --out build/student

autograde: venv
	@test -n "$(NB)" || { echo "usage: make autograde NB=path/to/NN_name.ipynb"; exit 2; }
	COURSE_PROFILE=quick $(BIN)/python -m course_lib.autograde "$(NB)"

slides: venv
	$(BIN)/python -m course_lib.slides --out build/slides

lint: venv
	$(BIN)/ruff check course_lib tests notebooks
	$(BIN)/ruff format --check course_lib tests notebooks

format: venv
	$(BIN)/ruff format course_lib tests notebooks
	$(BIN)/ruff check --fix course_lib tests notebooks

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
