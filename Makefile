# Two entry points, both do all setup on a fresh machine (Python 3.11 + pip).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev,detect]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/energy3d lift examples/nasa_AS11-40-5903_aldrin.jpg --out out/photo/
	$(BIN)/energy3d lift examples/keypoints_coco.json --out out/keypoints/
	$(BIN)/energy3d reconstruct examples/chair.png --resolution 64 --out out/chair/

test: $(STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) out
