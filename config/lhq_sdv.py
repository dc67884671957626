# LHQ in SD2-VAE latent space: the same networks and settings as config/ffhq_sdv.py
# (flow 153.9M, aux 34.8M, sampler 17.0M parameters); only the data and out_dir differ.
#   python data/prepare.py --src=/path/to/lhq_256 --out=data/lhq256.npy --size=256
#   python data/prepare.py --src=data/lhq256.npy --out=data/lhq256_sdv.npy --vae=/path/to/sd2/vae
exec(open(__file__.replace('lhq_sdv.py', 'ffhq_sdv.py')).read())
out_dir = 'out/lhq_sdv'
data = 'data/lhq256_sdv.npy'
