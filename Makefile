# Two entry points, both do all setup on a fresh machine (Python 3.11 + pip).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BROWSER_STAMP := $(VENV)/.browser

.PHONY: demo test install browser clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev,detect]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/energy3d lift examples/nasa_AS11-40-5903_aldrin.jpg --out out/photo/ --bvh out/photo.bvh
	$(BIN)/energy3d export out/photo/poses.npz --out out/photo.glb
	$(BIN)/energy3d lift examples/keypoints_coco.json --out out/keypoints/
	$(BIN)/energy3d pose examples/nasa_AS11-40-5903_aldrin.jpg --out out/pose/
	$(BIN)/energy3d pose examples/rendered_person_wave.png --mode rgb --out out/pose_rgb/
	$(BIN)/energy3d reconstruct examples/chair.png --resolution 64 --out out/chair/

# The viewer's browser test (tests/viz/test_viewer_browser.py) needs Chromium. Tried once per .venv (a stamp):
# as root with apt-get, `apt-get install chromium` (about a minute; apt-get update only if needed; 7 min at most);
# otherwise, or if that fails, the browser test skips. Never fails `make test`.
$(BROWSER_STAMP):
	@mkdir -p $(VENV)
	@found=$$(command -v chromium || command -v chromium-browser || command -v google-chrome); \
	if [ -n "$$found" ]; then echo "browser: $$found"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  echo "browser: installing chromium with apt-get for the viewer's browser test (log: $(VENV)/browser-install.log)"; \
	  if timeout 420 sh -c 'export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q chromium \
	      || { apt-get update -q && apt-get install -y -q chromium; }' >$(VENV)/browser-install.log 2>&1; \
	  then echo "browser: chromium installed"; \
	  else echo "browser: could not install chromium (see the log); the browser test will skip"; fi; \
	else echo "browser: no chromium, and no root with apt-get to install it; the browser test will skip"; fi
	@touch $@

browser: $(BROWSER_STAMP)

test: $(STAMP) $(BROWSER_STAMP)
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) out
