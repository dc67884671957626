# The CPU demo: all three stages on the embedded emoji set (3,391 images, 32x32) in about a
# quarter of an hour on 2 CPU cores (see README for the measured times and what the samples look
# like). Small networks, few iterations: it shows the whole method working, not the paper's quality.
#   python train_aux.py config/emoji.py && python train_flow.py config/emoji.py && \
#   python train_sampler.py config/emoji.py && python sample.py config/emoji.py
out_dir = 'out/emoji'
data = 'data/emoji/emoji32.npz'
device = 'cpu'

warmup_iters = 100
ema_decay = 0.995
log_interval = 50
sample_interval = 400
ckpt_interval = 200

aux_patch = 4                # 32x32 -> 8x8 tokens -> 4x4 (global); z is 4 x 4 x 4
aux_widths = [64, 128]
aux_depths = [2, 2]
aux_ff_mult = 2
aux_batch_size = 64
aux_max_iters = 800

flow_patch = 4
flow_widths = [128, 256]
flow_depths = [2, 4]
flow_ff_mult = 2
flow_mapping_width = 128
flow_mapping_depth = 1
flow_batch_size = 64
flow_max_iters = 800

sampler_widths = [128]
sampler_depths = [4]
sampler_d_head = 32
sampler_mapping_width = 128
sampler_mapping_depth = 1
sampler_batch_size = 128
sampler_max_iters = 1000
