# The two commands: `make run` (set up, then start the app) and `make test` (set up, then the whole suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python

# What a fresh Debian/Ubuntu needs: PortAudio for sounddevice, espeak-ng data comes from a wheel;
# the Qt/X libraries are for the desktop window; jackd2 is the virtual audio device the tests play to; openbox
# and xdotool drive the real window under Xvfb as a desktop would (a window manager gives keyboard focus).
APT_RUN := libportaudio2 libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 \
  fonts-dejavu-core libxkbcommon0 libxkbcommon-x11-0 libx11-xcb1 libxcb-cursor0 libxcb-icccm4 \
  libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 \
  libxcb-render0 libxcb-shm0 libxcb-sync1 libxcb-util1 libx11-6
# The PipeWire lane (scripts/pipewire-lane.sh, started by tests/integration/test_pipewire.py): a headless
# PipeWire with a null sink. pipewire-alsa's links in /etc/alsa/conf.d, which would make PipeWire ALSA's default
# for the whole machine (and take the JACK lane's device away), are diverted first (scripts/alsa-keep-default.sh).
APT_PIPEWIRE := pipewire pipewire-bin wireplumber pipewire-pulse pipewire-alsa pipewire-jack pulseaudio-utils dbus
APT_TEST := jackd2 xvfb xauth openbox xdotool $(APT_PIPEWIRE)

.PHONY: setup setup-test bench-setup run test lint package jack-start jack-stop clean

setup: .stamp-apt-run $(VENV)/.stamp-install

setup-test: setup .stamp-apt-test $(VENV)/.stamp-test

.stamp-apt-run: Makefile
	@bash scripts/apt-ensure.sh $(APT_RUN)
	@touch $@

.stamp-apt-test: Makefile
	@bash scripts/alsa-keep-default.sh
	@bash scripts/apt-ensure.sh $(APT_TEST)
	@touch $@

$(VENV)/.stamp-install: pyproject.toml
	@bash scripts/ensure-python.sh
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	@touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-install
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# What `voicetrace bench` needs beyond the app: the independent recorder's JACK client and Whisper for --wer.
bench-setup: setup .stamp-apt-test
	$(PY) -m pip install -q -e '.[bench]'

# Opens the window and says hello once the default voice is warm (on a machine with no display it says so
# and points to `voicetrace speak --sample`).
run: setup
	$(VENV)/bin/voicetrace app --greet

lint: setup-test
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy

# The suite plays real audio to a JACK dummy device of its own name (never the user's `default` server);
# jackd must start before PortAudio initialises and stop only after every test process has exited
# (docs/architecture.md, "The test devices").
JACK_SERVER ?= voicetrace-test

test: setup-test
	$(VENV)/bin/ruff check app tests
	$(VENV)/bin/mypy
	@export JACK_DEFAULT_SERVER=$(JACK_SERVER); bash scripts/jack-dummy.sh start || exit 1; \
	  set -o pipefail; status=0; \
	  $(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) || status=$$?; \
	  bash scripts/jack-dummy.sh stop; exit $$status

# The installers: a PyInstaller one-folder bundle (build/dist/voicetrace) and a .deb (build/*.deb); prints sizes.
package: setup
	PY=$(PY) bash packaging/build.sh

# For the benchmark by hand: start the test lane's server, then `export JACK_DEFAULT_SERVER=$(JACK_SERVER)`.
jack-start:
	@JACK_DEFAULT_SERVER=$(JACK_SERVER) bash scripts/jack-dummy.sh start
	@echo "export JACK_DEFAULT_SERVER=$(JACK_SERVER)   # so the app and the bench play to it"

jack-stop:
	@JACK_DEFAULT_SERVER=$(JACK_SERVER) bash scripts/jack-dummy.sh stop

clean:
	rm -rf $(VENV) .stamp-apt-run .stamp-apt-test build dist
