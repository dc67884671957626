# FFHQ in the latent space of the Stable Diffusion 2 VAE (the paper's "SDV" models): 256x256x3 images
# become 32x32x4 latents; all three stages train on them unchanged and sample.py decodes with the VAE.
# Encode once (the VAE from a local directory, e.g. a download of stabilityai/stable-diffusion-2's vae/):
#   python data/prepare.py --src=/path/to/ffhq/images1024x1024 --out=data/ffhq256.npy --size=256
#   python data/prepare.py --src=data/ffhq256.npy --out=data/ffhq256_sdv.npy --vae=/path/to/sd2/vae
# Then (nproc_per_node = your GPU count; batch sizes are global):
#   torchrun --nproc_per_node=2 train_aux.py config/ffhq_sdv.py
#   torchrun --nproc_per_node=2 train_flow.py config/ffhq_sdv.py
#   torchrun --nproc_per_node=2 train_sampler.py config/ffhq_sdv.py
#   python sample.py --out_dir=out/ffhq_sdv --steps=1
# Parameter counts as printed at start-up: flow model 153.9M (paper 154M), aux model 34.8M (paper 35M),
# latent sampler 17.0M (paper 17M); tests/test_configs.py holds them to the paper's within 2%. The paper
# lists 3 aux widths for 4 levels: the global level's width (400) and the sampler's mapping depth (3) are
# the values that give its counts (as in config/ffhq.py). Iteration counts are ours, not the paper's.
out_dir = 'out/ffhq_sdv'
data = 'data/ffhq256_sdv.npy'
image_size = 256              # the pixel size the latents were encoded from (checked against the data's sidecar)
flip = True
dtype = 'bfloat16'
compile = True
warmup_iters = 1000
ema_decay = 0.9999
log_interval = 100
sample_interval = 5000
ckpt_interval = 1000

aux_patch = 1                 # 32x32 latent tokens, 3 local levels + 1 global at 4x4; z is 4 x 4 x 4
aux_widths = [256, 512, 512, 400]
aux_depths = [2, 2, 2, 2]
aux_d_head = 16
aux_ff_mult = 2
aux_kernel = 7
z_channels = 4
aux_batch_size = 128
aux_max_iters = 100000

flow_patch = 1                # 1 local level (32x32 tokens) + 1 global (16x16)
flow_widths = [512, 1024]
flow_depths = [2, 8]
flow_d_head = 64
flow_ff_mult = 3
flow_kernel = 7
flow_mapping_width = 768
flow_mapping_depth = 2
flow_batch_size = 64
flow_max_iters = 400000

sampler_widths = [384]
sampler_depths = [8]
sampler_d_head = 64
sampler_ff_mult = 2
sampler_mapping_width = 384
sampler_mapping_depth = 3
sampler_batch_size = 256
sampler_max_iters = 100000
sampler_steps = 4            # at sampling: the paper's 4 midpoint steps (not measured at this scale here)
