# `make demo` and `make test` set up everything they need on a fresh machine (Debian, as root).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
APT_PACKAGES := ffmpeg espeak-ng chromium plasma-workspace-wallpapers ukui-wallpapers dataset-fashion-mnist
# Photos of the issue #12 caption set (benchmarks/data/captions150.json), for `make bench` only; kphotoalbum is
# unpacked into .cache/bench-debs/root, not installed (that would pull ~200 KDE packages).
BENCH_APT := mate-backgrounds lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 opencv-doc tuxpaint-data \
  palapeli-data visp-images-data
BENCH_DEBS := .cache/bench-debs
# Real photos of people for the faces tests (public-domain portraits shipped in face_recognition's source package).
FACE_PHOTOS := .cache/face-photos

.PHONY: venv system-deps bench-deps face-photos test lint demo bench clean

venv: $(STAMP)

# torch==2.13.0 first: pip resolves it to the local CPU wheel; unpinned it would pull GBs of CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian packages for real test media; a machine without apt/root gets a warning, and the tests
# that need a missing package skip with its name.
system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || echo "warning: could not install: $$missing (tests that need them will skip)"; \
	  else echo "warning: missing Debian packages: $$missing (tests that need them will skip)"; fi; \
	fi

bench-deps: system-deps
	@missing=$$(for p in $(BENCH_APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || echo "warning: could not install: $$missing (bench_captions.py will name what is missing)"; \
	  else echo "warning: missing Debian packages: $$missing (bench_captions.py will name what is missing)"; fi; \
	fi
	@[ -d $(BENCH_DEBS)/root/usr/share/kphotoalbum ] || { mkdir -p $(BENCH_DEBS) && cd $(BENCH_DEBS) && \
	  { apt-get download kphotoalbum >/dev/null 2>&1 || { apt-get update -qq && apt-get download kphotoalbum >/dev/null; }; } && \
	  dpkg -x kphotoalbum_*.deb root; } || echo "warning: could not unpack kphotoalbum into $(BENCH_DEBS)/root"

face-photos: venv
	@[ -f $(FACE_PHOTOS)/obama.jpg ] || { mkdir -p $(FACE_PHOTOS) && \
	  $(PY) -m pip download -q --no-deps --no-binary :all: face_recognition==1.3.0 -d $(FACE_PHOTOS) && \
	  tar -xzf $(FACE_PHOTOS)/face_recognition-1.3.0.tar.gz -C $(FACE_PHOTOS) --strip-components=3 \
	    face_recognition-1.3.0/tests/test_images; } || echo "warning: could not fetch face photos (faces tests will skip)"

lint: venv
	$(VENV)/bin/ruff check framefind tests benchmarks scripts

test: venv system-deps face-photos lint
	$(VENV)/bin/pytest -q -ra

demo: venv system-deps face-photos
	$(PY) scripts/demo.py

bench: venv bench-deps
	$(PY) benchmarks/bench_index.py
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_vectors.py
	$(PY) benchmarks/bench_storage.py
	$(PY) benchmarks/bench_video.py
	$(PY) benchmarks/bench_eval.py
	$(PY) benchmarks/bench_captions.py
	$(PY) benchmarks/bench_conse.py
	$(PY) benchmarks/bench_learning.py

clean:
	rm -rf $(VENV) demo .pytest_cache
