# Your own images at 64x64 (or 128x128, see below): a starting point to copy, not a tuned recipe.
#   python data/prepare.py --src=/path/to/your/images --out=data/mine64.npy --size=64
#   python train_aux.py config/template.py        (then train_flow.py, train_sampler.py; torchrun on GPUs)
#   python sample.py config/template.py --steps=1
# The keys marked SET are the ones you set; every other key is explained in config/defaults.py. Parameters,
# memory and speed of these networks on a 2-core CPU: README, "Your own data"
# (python benchmarks/size_guide.py measures them on your machine). For 256x256 start from config/ffhq.py.
out_dir = 'out/mine'          # SET: where checkpoints, grids and logs go (one directory for all three stages)
data = 'data/mine64.npy'      # SET: the array data/prepare.py wrote
image_size = 64               # SET: the size you prepared; it must be divisible by patch x 2^(levels - 1)
flip = True                   # SET: horizontal flips as augmentation (False for text, digits, asymmetric content)
log_interval = 100
sample_interval = 1000
ckpt_interval = 1000

# stage 1, the auxiliary model: 64 -> 16x16 tokens (neighborhood attention) -> 8x8 (global); z is 4 x 8 x 8
aux_patch = 4
aux_widths = [64, 128]
aux_depths = [2, 2]
aux_ff_mult = 2
aux_batch_size = 64
aux_max_iters = 5000          # SET: more for more data; the aux model is the cheapest stage

# stage 2, the flow model: 16x16 tokens (neighborhood attention) -> 8x8 (global)
flow_patch = 4
flow_widths = [128, 256]
flow_depths = [2, 4]
flow_ff_mult = 2
flow_batch_size = 64
flow_max_iters = 20000        # SET: the stage that decides the quality; train it longest

# stage 3, the latent sampler on the 4 x 8 x 8 z: 2x2 z positions per token (16 tokens)
sampler_patch = 2
sampler_widths = [256]
sampler_depths = [4]
sampler_d_head = 64
sampler_batch_size = 128
sampler_max_iters = 10000
sampler_t_dist = 'logit_normal'

# 128x128: one more level in each hourglass keeps z at 4 x 8 x 8 (128 -> 32x32 -> 16x16 -> 8x8 tokens):
#   image_size = 128, data = 'data/mine128.npy', aux_widths = [64, 128, 256], aux_depths = [2, 2, 2],
#   flow_widths = [128, 256, 512], flow_depths = [2, 2, 4]
