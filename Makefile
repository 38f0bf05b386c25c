# zsclf: set-up, demo, tests and reports. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
ZSCLF  := $(VENV)/bin/zsclf
MODELS := models/efficientnet-lite0.onnx models/efficientnet-lite0-int8.onnx models/all-minilm-l6-v2.onnx \
          models/all-minilm-l6-v2-int8.onnx
INDEX  := indexes/imagenet21k/CURRENT

.PHONY: setup bytecode demo test lint bench report gpu-check clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[export,foreign,dev,ray,serve]'
	touch $@

$(MODELS) &: $(VENV)/.installed tools/export_models.py src/zsclf/install/export.py src/zsclf/install/quantize.py \
             labels/efficientnet-lite0-int8.ranges.json
	$(PY) tools/export_models.py --models-dir models

$(INDEX): $(MODELS) labels/imagenet21k.tsv labels/imagenet1k.tsv
	$(ZSCLF) build-index labels/imagenet21k.tsv -o indexes/imagenet21k

setup: $(VENV)/.installed $(MODELS) $(INDEX) bytecode  ## install, export the models, build the ImageNet-21K index

# pip byte-compiles a normal install, not an editable one: without this every start compiles zsclf's
# modules again where PYTHONDONTWRITEBYTECODE is set (this machine: one-image predict 0.47 -> 0.42 s)
bytecode: $(VENV)/.installed
	$(PY) -m compileall -q src/zsclf

demo: setup  ## classify the sample photos with the default 21K index
	$(ZSCLF) predict tests/images --format table

test: setup  ## the whole test suite
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check src tests tools benchmarks

bench: setup  ## speed: stage by stage and end to end
	$(ZSCLF) benchmark ../shared/data/imagenet-sample

report: setup  ## accuracy, speed and charts: docs/results.md and docs/img/*.png
	$(PY) tools/make_report.py --out docs/results.md

gpu-check:  ## on a CUDA machine: venv with the gpu extra, tests, info, benchmark on CUDA; fails unless CUDA+FAISS GPU ran
	benchmarks/gpu_check.sh

clean:
	rm -rf indexes models/cache $(MODELS) models/*.tokenizer.json models/*.classifier.npz
