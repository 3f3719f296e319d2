# Two commands: `make run` (start the studio) and `make test` (run the test suite).
# Both create .venv on first use and install everything the project needs into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= ../shared/data

.PHONY: run test lint install bench defaults clean-venv

run: install
	$(PY) launch.py

test: install lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The code follows its formatter and lint rules (pyproject.toml [tool.ruff]).
lint: install
	$(PY) -m ruff format --check .
	$(PY) -m ruff check .

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: 2.13.0 is the CPU wheel, anything unpinned pulls a CUDA build.
$(STAMP): pyproject.toml Makefile | $(PY)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# Accuracy (EmoDB LOSO, RAVDESS 6-fold; project vs openSMILE+SVM), cross-corpus generalisation, speed/memory, 2-hour media, UI server times,
# crash recovery and load; results in bench/results/, quoted in the README by bench.readme; needs ../shared/data.
bench: install
	$(PY) -m bench.accuracy --data $(DATA)
	$(PY) -m bench.generalisation --data $(DATA)
	$(PY) -m bench.speed --data $(DATA)
	$(PY) -m bench.ui --data $(DATA)
	$(PY) -m bench.long_media --data $(DATA)
	$(PY) -m bench.robustness
	$(PY) -m bench.captions --data $(DATA)
	$(PY) -m bench.readme

# Retrain the shipped default model, then its captioner, from ../shared/data.
defaults: install
	$(PY) -m emostudio.trainers.defaults --data $(DATA)
	$(PY) -m emostudio.trainers.caption_defaults --data $(DATA)

clean-venv:
	rm -rf $(VENV)
