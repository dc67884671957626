# LHQ (landscapes) at 256x256, pixel space: the same networks and settings as config/ffhq.py
# (flow 159.9M, aux 36.9M, sampler 17.0M parameters); only the data and out_dir differ.
#   python data/prepare.py --src=/path/to/lhq_256 --out=data/lhq256.npy --size=256
#   torchrun --nproc_per_node=2 train_aux.py config/lhq.py   (then train_flow.py, train_sampler.py)
exec(open(__file__.replace('lhq.py', 'ffhq.py')).read())
out_dir = 'out/lhq'
data = 'data/lhq256.npy'
