# Low2High: set-up, demo, tests, checks, package, benchmarks. See README.md; `make help` lists targets.
#   make demo   install what is missing, then classify the bundled sample image with qgis_process
#   make test   install what is missing, then run the test suite
#   make check  lint (ruff) and types (mypy)
SHELL := /bin/bash
# Plain `make` only prints the targets: nothing that installs (or needs root) runs by accident.
.DEFAULT_GOAL := help

SYSTEM_PYTHON := /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian's QGIS 3.22 with its Python bindings, GDAL, NumPy, Matplotlib; venv support; a virtual
# screen for looking at the desktop; zip for the plugin package.
APT_PACKAGES := qgis python3-qgis qgis-providers python3-gdal python3-numpy python3-matplotlib \
                python3-yaml python3-venv python3-pip xvfb xauth zip
DEMO_INPUT := resources/sample/naip_sample.tif
DEMO_OUTPUT := $(CURDIR)/out/demo_landcover.tif
export QT_QPA_PLATFORM ?= offscreen

.PHONY: help setup system-packages demo test check bench bench-many package sample screenshots demo-model clean exemplars

## help: list the targets
help:
	@echo "Low2High make targets:"
	@sed -n 's/^## \([a-z-]*\): /  \1\t/p' $(MAKEFILE_LIST) | expand -t 16

## setup: Debian packages (when missing) and the venv with pinned Python packages (idempotent)
setup: system-packages $(VENV)/.ready

system-packages:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	    echo "Installing Debian packages: $(APT_PACKAGES)"; \
	    $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $(APT_PACKAGES); \
	fi

# A venv on Debian's Python (the one QGIS is built for) that also sees QGIS, GDAL and NumPy.
$(VENV)/.ready: resources/requirements.txt requirements-dev.txt pyproject.toml | system-packages
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r resources/requirements.txt -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

## demo: classify the bundled sample image with the bundled demo model through qgis_process
demo: setup
	@mkdir -p $(dir $(DEMO_OUTPUT))
	scripts/qgis_process run low2high:segment -- INPUT=$(CURDIR)/$(DEMO_INPUT) OUTPUT=$(DEMO_OUTPUT)
	@echo ""
	@echo "Land-cover map written to $(DEMO_OUTPUT)"

## test: the whole test suite (core engine, models, training, QGIS plugin, qgis_process)
test: setup
	$(PY) -m pytest

## check: lint and import order (ruff) and types (mypy) of the package and its tests
MYPY_ROOT := .build/mypy
check: setup
	$(PY) -m ruff check .
	@mkdir -p $(MYPY_ROOT) && ln -sfn $(CURDIR) $(MYPY_ROOT)/low2high
	cd $(MYPY_ROOT) && $(CURDIR)/$(PY) -m mypy --config-file $(CURDIR)/pyproject.toml -p low2high

## bench: segment vs a plain fp32 ONNX Runtime 512/64 tiling loop at each precision, one table per model (not a test)
bench: setup
	$(PY) -m low2high.benchmarks.segment_speed

## bench-many: segment-many with 1 and 2 local Dask workers against one-by-one segment calls (not a test)
bench-many: setup
	$(PY) -m low2high.benchmarks.segment_many_speed

## package: the installable plugin zip (a folder low2high/ inside) in dist/
package: setup
	$(PY) scripts/package.py

## clean: remove build outputs (the venv stays)
clean:
	rm -rf .build dist out .pytest_cache

## sample: regenerate the bundled sample image from the shared real labels (needs ../shared)
SHARED := $(CURDIR)/../shared
SAMPLE_WINDOW := 0 4096 1024 1024
sample: setup
	mkdir -p .build
	gdal_translate -q -co COMPRESS=DEFLATE -srcwin $(SAMPLE_WINDOW) $(SHARED)/data/chesapeake_pg_county/pg_county_north_lc.tif resources/sample/naip_sample_chesapeake.tif
	gdal_translate -q -co COMPRESS=DEFLATE -srcwin $(SAMPLE_WINDOW) $(SHARED)/data/chesapeake_pg_county/pg_county_north_nlcd.tif resources/sample/naip_sample_nlcd.tif
	$(SYSTEM_PYTHON) $(SHARED)/tools/render_scene.py resources/sample/naip_sample_chesapeake.tif resources/sample/naip_sample.tif --seed 1

## exemplars: regenerate finetune's bundled 1 m label exemplars (resources/exemplars) from ../shared
exemplars: setup
	$(PY) scripts/make_exemplars.py --shared $(SHARED)

## screenshots: what a QGIS desktop user sees (styled demo map, the window, segment dialog), on a virtual screen
# In scripts/qgis_process's throwaway profile (where `demo` enabled the plugin), never the user's own.
screenshots: demo
	QGIS_CUSTOM_CONFIG_PATH=$(CURDIR)/.build/qgis-config QGIS_PLUGINPATH=$(CURDIR)/.build/plugins PYTHONPATH=$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
	LOW2HIGH_IMAGE=$(CURDIR)/$(DEMO_INPUT) LOW2HIGH_MAP=$(DEMO_OUTPUT) LOW2HIGH_SHOTS=$(CURDIR)/out/screenshots \
	QT_QPA_PLATFORM=xcb timeout 180 xvfb-run -a -s "-screen 0 1400x900x24" qgis --nologo --noversioncheck --code scripts/qgis_screenshots.py
	@echo "Screenshots in $(CURDIR)/out/screenshots"

## demo-model: retrain the bundled demo model (resources/models/demo.pt) from the shared data; about 15 min on 2 free cores
# low-dist on three rendered appearances: every pixel learns what its real NLCD code means (the bundled prior,
# counted on real 1 m labels of another band), 30 % of the merged label blended in. A base of 40 epochs at full
# photometric augmentation, then 15 epochs at half strength and half the learning rate (batch 8: 120 steps; twice
# as many steps lost the earlier real flight, docs/quality.md); its card asks for the colour refinement, patches
# of at least 100 m² and half the image's own input statistics (blend).
DEMO_RUN := .build/demo-model
DEMO_FIT := $(PY) -m low2high.train fit --dataset .build/demo-dataset/dataset_11-0.08_12-0.1 --mode low-dist \
	    --prior resources/priors/nlcd_chesapeake.json --prior-mix 0.3 --width 16 --ema 0.99 --select last \
	    --tile-size 512 --tile-overlap 64 --progress false --plot-every 0
demo-model: setup
	$(PY) -m low2high.train demo-dataset
	$(DEMO_FIT) --output $(DEMO_RUN)/base --photometric 1 --batch-size 4 --epochs 40 --lr 1e-3
	$(DEMO_FIT) --output $(DEMO_RUN)/final --init $(DEMO_RUN)/base/best.pt --photometric 0.5 --batch-size 8 \
	    --epochs 15 --lr 5e-4 --min-mapping-unit 100 --colour-refinement true --input-statistics blend --seed 0
	cp $(DEMO_RUN)/final/best.pt resources/models/demo.pt
