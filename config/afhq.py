# AFHQ (all classes) at 256x256, pixel space: the same networks and settings as config/ffhq.py
# (flow 159.9M, aux 36.9M, sampler 17.0M parameters); only the data and out_dir differ.
#   python data/prepare.py --src=/path/to/afhq/train --out=data/afhq256.npy --size=256
#   torchrun --nproc_per_node=2 train_aux.py config/afhq.py   (then train_flow.py, train_sampler.py)
exec(open(__file__.replace('afhq.py', 'ffhq.py')).read())
out_dir = 'out/afhq'
data = 'data/afhq256.npy'
