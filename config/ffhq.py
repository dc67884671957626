# FFHQ at 256x256 in pixel space with the paper's RGB sizes (its appendix; docs/method.md has the table).
# Prepare the data once:  python data/prepare.py --src=/path/to/ffhq/images1024x1024 --out=data/ffhq256.npy --size=256
# Then, on one node with 2 GPUs (nproc_per_node = your GPU count; batch sizes are global):
#   torchrun --nproc_per_node=2 train_aux.py config/ffhq.py
#   torchrun --nproc_per_node=2 train_flow.py config/ffhq.py
#   torchrun --nproc_per_node=2 train_sampler.py config/ffhq.py
#   python sample.py --out_dir=out/ffhq --steps=1 --num_samples=64
# Parameter counts as printed at start-up: flow model 159.9M (paper 160M), aux model 36.9M (paper 37M),
# latent sampler 17.0M (paper 17M); tests/test_configs.py holds them to the paper's within 2%. The paper
# lists 4 aux widths for 5 levels and no mapping network for the sampler: the global aux level's width (432)
# and the sampler's mapping depth (3) are the values that give its counts, not numbers it states.
# Iteration counts are ours (the paper gives ~30 h on 4 A100s); the number of training iterations
# needed to reach the paper's CMMD is not measured here.
out_dir = 'out/ffhq'
data = 'data/ffhq256.npy'
image_size = 256
flip = True
dtype = 'bfloat16'
compile = True
warmup_iters = 1000
ema_decay = 0.9999
log_interval = 100
sample_interval = 5000
ckpt_interval = 1000

aux_patch = 4                 # 256 -> 64x64 tokens, 4 local levels + 1 global at 4x4; z is 4 x 4 x 4
aux_widths = [128, 256, 512, 512, 432]
aux_depths = [2, 2, 2, 2, 2]
aux_d_head = 16
aux_ff_mult = 2
aux_kernel = 7
z_channels = 4
aux_batch_size = 256
aux_max_iters = 100000

flow_patch = 4                # 2 local levels (64x64, 32x32 tokens) + 1 global (16x16)
flow_widths = [256, 512, 1024]
flow_depths = [2, 2, 8]
flow_d_head = 64
flow_ff_mult = 3
flow_kernel = 7
flow_mapping_width = 768
flow_mapping_depth = 2
flow_batch_size = 128
flow_max_iters = 400000

sampler_widths = [384]
sampler_depths = [8]
sampler_d_head = 64
sampler_ff_mult = 2
sampler_mapping_width = 384
sampler_mapping_depth = 3
sampler_batch_size = 512
sampler_max_iters = 100000
sampler_steps = 4            # at sampling: the paper's 4 midpoint steps (not measured at this scale here)
