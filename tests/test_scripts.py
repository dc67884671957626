"""The real scripts, end to end, on tiny networks: all three stages, sampling, the baseline,
2-process torchrun (gloo), exact resume, and one-line errors."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import model as M
from conftest import native_grid, ROOT, run, run_inprocess


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def test_all_stages_and_sample(tiny_config, tmp_path):
    out = tmp_path / 'out'
    p = run('train_aux.py', tiny_config)
    assert 'aux iter 3/3: loss' in p.stdout
    p = run('train_flow.py', tiny_config)
    assert 'LeDiFlow, learned prior' in p.stdout and 'flow iter 3/3: loss' in p.stdout
    run('train_sampler.py', tiny_config)
    for stage in ('aux', 'flow', 'sampler'):
        ck = load(out / f'{stage}.pt')
        assert ck['iter'] == 3 and ck['stage'] == stage
        assert os.path.isfile(out / f'{stage}_000003.png')
    flow, aux = load(out / 'flow.pt'), load(out / 'aux.pt')
    assert flow['aux_ref'] == {'run_id': aux['run_id'], 'iter': 3}
    assert flow['model_args']['z_shape'] == [4, 4, 4]
    # sample.py with its flags, as a user types them
    p = run('sample.py', f'--out_dir={out}', '--steps=2', '--solver=heun3', '--num_samples=5', '--seed=3', '--device=cpu')
    assert 'solver heun3, steps 2, NFE 6' in p.stdout and 'ms/img' in p.stdout
    img = Image.open(out / 'samples_heun32.png')
    assert img.size == (4 * (3 * 34 + 2), 4 * (2 * 34 + 2))          # 5 images of 32x32 in rows of 3, shown 4x
    native_grid(out / 'samples_heun32.png')                          # nearest neighbour: each pixel a 4x4 block
    # a fixed seed gives the same images
    run('sample.py', f'--out_dir={out}', '--steps=2', '--solver=heun3', '--num_samples=5', '--seed=3',
        f'--output={tmp_path}/again.png')
    assert np.array_equal(np.asarray(img), np.asarray(Image.open(tmp_path / 'again.png')))
    run('sample.py', f'--out_dir={out}', '--steps=2', '--solver=heun3', '--num_samples=5', '--seed=3',
        f'--output={tmp_path}/native.png', '--grid_upscale=False')
    assert np.array_equal(np.asarray(Image.open(tmp_path / 'native.png')), native_grid(out / 'samples_heun32.png'))


def test_gaussian_baseline(tiny_config, tmp_path):
    out = tmp_path / 'fm'
    p = run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={out}')   # no aux.pt needed
    assert 'FM baseline, gaussian prior' in p.stdout
    ck = load(out / 'flow.pt')
    assert ck['model_args']['z_shape'] is None and ck['aux_ref'] is None
    p = run('sample.py', f'--out_dir={out}', '--steps=3', '--solver=euler', '--num_samples=4')
    assert 'FM baseline' in p.stdout and 'NFE 3' in p.stdout
    assert os.path.isfile(out / 'samples_euler3.png')


def test_sample_takes_the_runs_sampling_settings_unless_told(tiny_config, tmp_path):
    """Order: the command line, then a config file given, then the run's own config (flow.pt), then the defaults;
    the line 'sampling settings' says where each came from."""
    out = tmp_path / 'fm'
    run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={out}', '--steps=3', '--solver=heun2')
    p = run('sample.py', f'--out_dir={out}', '--num_samples=2')                      # the run's own: heun2 x 3
    assert f'steps 3 ({out}/flow.pt), solver heun2 ({out}/flow.pt)' in p.stdout and 'NFE 6' in p.stdout
    assert 'sampling settings:' in p.stdout and 'tau 1.0 (' in p.stdout
    cfg = tmp_path / 'two_steps.py'
    cfg.write_text('steps = 2\n')
    p = run('sample.py', str(cfg), f'--out_dir={out}', '--num_samples=2')             # a config file beats the run
    assert f'steps 2 ({cfg}), solver heun2 ({out}/flow.pt)' in p.stdout and 'NFE 4' in p.stdout
    p = run('sample.py', str(cfg), f'--out_dir={out}', '--num_samples=2', '--steps=1', '--solver=euler')
    assert 'steps 1 (command line), solver euler (command line)' in p.stdout and 'NFE 1' in p.stdout


@pytest.mark.parametrize('script,stage', [('train_aux.py', 'aux'), ('train_flow.py', 'flow'),
                                          ('train_sampler.py', 'sampler')])
def test_resume_equals_unbroken_run(tiny_config, tmp_path, script, stage):
    a, b = tmp_path / 'a', tmp_path / 'b'
    if stage != 'aux':   # later stages need the same frozen aux model in both out_dirs
        run('train_aux.py', tiny_config, f'--out_dir={a}')
        b.mkdir()
        shutil.copy(a / 'aux.pt', b / 'aux.pt')
    run(script, tiny_config, f'--out_dir={a}', '--max_iters=4')
    run(script, tiny_config, f'--out_dir={b}', '--max_iters=2')
    p = run(script, tiny_config, f'--out_dir={b}', '--max_iters=4', '--init_from=resume')
    assert 'from iteration 2' in p.stdout
    ca, cb = load(a / f'{stage}.pt'), load(b / f'{stage}.pt')
    assert ca['iter'] == cb['iter'] == 4
    for key in ('model', 'ema'):
        for name in ca[key]:
            assert torch.equal(ca[key][name], cb[key][name]), (key, name)
    assert ca['optimizer']['state'][0]['step'] == cb['optimizer']['state'][0]['step'] == 4
    # and the run did train: weights moved away from a fresh 2-iteration run's
    c2 = tmp_path / 'c'
    shutil.copytree(b, c2)
    run(script, tiny_config, f'--out_dir={c2}', '--max_iters=2')
    assert any(not torch.equal(ca['model'][n], load(c2 / f'{stage}.pt')['model'][n]) for n in ca['model'])


def test_torchrun_two_ranks_stay_identical(tiny_config, tmp_path):
    out = tmp_path / 'out'
    p = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
            'train_aux.py', tiny_config, '--batch_size=8', '--max_iters=3')
    assert 'DDP: weights identical on all 2 ranks' in p.stdout
    assert 'batch 8 on 2 x cpu' in p.stdout
    single = tmp_path / 'single'
    run('train_aux.py', tiny_config, f'--out_dir={single}', '--batch_size=8', '--max_iters=3')
    ddp_w, one_w = load(out / 'aux.pt')['model'], load(single / 'aux.pt')['model']
    # 2 ranks x 4 images see other data than 1 x 8: a real 2-process run, not a copy of one
    assert any(not torch.equal(ddp_w[n], one_w[n]) for n in ddp_w)
    # the OT-coupled baseline (coupling='ot', each rank pairs its own micro-batches) under DDP with accumulation
    p = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train_flow.py',
            tiny_config, '--prior=gaussian', '--coupling=ot', f'--out_dir={tmp_path}/ot', '--batch_size=8',
            '--gradient_accumulation_steps=2', '--max_iters=2')
    assert 'DDP: weights identical on all 2 ranks' in p.stdout and 'flow iter 2/2: loss' in p.stdout


def test_ot_coupling_trains_the_baseline_and_is_refused_with_the_learned_prior(tiny_config, tmp_path):
    """coupling='ot' changes what the baseline learns (same seed, other weights than the independent coupling),
    resumes bit-identically, and is refused in one line with the learned prior."""
    common = [tiny_config, '--prior=gaussian', '--batch_size=8']
    run('train_flow.py', *common, f'--out_dir={tmp_path}/ind', '--max_iters=2')
    run('train_flow.py', *common, f'--out_dir={tmp_path}/ot', '--coupling=ot', '--max_iters=2')
    run('train_flow.py', *common, f'--out_dir={tmp_path}/ot_r', '--coupling=ot', '--max_iters=1')
    run('train_flow.py', *common, f'--out_dir={tmp_path}/ot_r', '--coupling=ot', '--max_iters=2', '--init_from=resume')
    ind, ot, ot_r = (load(tmp_path / d / 'flow.pt')['model'] for d in ('ind', 'ot', 'ot_r'))
    assert any(not torch.equal(ind[k], ot[k]) for k in ot)
    assert all(torch.equal(ot[k], ot_r[k]) for k in ot)
    p = run('train_flow.py', tiny_config, '--coupling=ot', check=False)
    assert p.returncode == 1 and "coupling='ot' re-pairs noise and images" in p.stderr and 'Traceback' not in p.stderr


@pytest.mark.parametrize('prior', ['gaussian', 'learned'])
def test_flow_reflow_trains_on_the_teachers_pairs(tiny_config, tmp_path, monkeypatch, prior):
    """reflow_from=TEACHER_DIR: the pairs are (x0, the teacher's midpoint ODE solution from x0 given z), the student
    starts from the teacher's weights, its training time includes the teacher's, and it says so in its checkpoint;
    a new out_dir gets the teacher's aux.pt and sampler.pt; a missing teacher, a teacher of another aux model, or one
    it would overwrite are one-line errors."""
    teacher, student = tmp_path / 'teacher', tmp_path / 'student'
    if prior == 'learned':
        run('train_aux.py', tiny_config, f'--out_dir={teacher}')
        student.mkdir()
        shutil.copy(teacher / 'aux.pt', student / 'aux.pt')
    run('train_flow.py', tiny_config, f'--prior={prior}', f'--out_dir={teacher}')
    ns = run_inprocess(monkeypatch, 'train_flow.py', tiny_config, f'--prior={prior}', f'--out_dir={student}',
                       f'--reflow_from={teacher}', '--reflow_pairs=6', '--reflow_steps=3', '--max_iters=2')
    pairs, t = ns['pairs'], ns['teacher']
    assert pairs['x0'].shape == (6, 3, 32, 32) and (pairs['z'] is None) == (prior == 'gaussian')
    with torch.no_grad():
        again = M.solve(lambda x, s: t(x, s, pairs['z']), pairs['x0'], 3, 'midpoint')
    torch.testing.assert_close(pairs['y'], again, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(pairs['y'], pairs['x0'], atol=1e-3)        # the teacher moved them
    ck, tck = load(student / 'flow.pt'), load(teacher / 'flow.pt')
    assert ck['reflow']['steps'] == 3 and ck['reflow']['teacher'] == str(teacher)
    assert ck['train_seconds'] > tck['train_seconds']
    # one-line errors, nothing overwritten
    p = run('train_flow.py', tiny_config, f'--prior={prior}', f'--out_dir={student}', f'--reflow_from={tmp_path}/none',
            check=False)
    assert p.returncode == 1 and 'no reflow teacher (a trained flow model) checkpoint' in p.stderr
    before = (teacher / 'flow.pt').read_bytes()
    p = run('train_flow.py', tiny_config, f'--prior={prior}', f'--out_dir={teacher}', f'--reflow_from={teacher}',
            check=False)
    assert p.returncode == 1 and 'which this run overwrites' in p.stderr and (teacher / 'flow.pt').read_bytes() == before
    if prior == 'learned':   # x0 is drawn at the run's tau: at tau 0 each pair starts at its z's prior mean mu_x
        aux = ns['aux']
        with torch.no_grad():
            mean = aux.prior(pairs['z'], torch.zeros_like(pairs['x0']), 0.0)[0]
        assert not torch.allclose(pairs['x0'], mean, atol=1e-3)             # tau 1 (the config's): a prior sample
        # a new out_dir gets copies of the teacher's aux.pt and sampler.pt, and the reflowed run samples
        run('train_sampler.py', tiny_config, f'--out_dir={teacher}', '--max_iters=1')
        student0 = tmp_path / 'student0'
        ns0 = run_inprocess(monkeypatch, 'train_flow.py', tiny_config, f'--out_dir={student0}', '--tau=0',
                            f'--reflow_from={teacher}', '--reflow_pairs=6', '--reflow_steps=3', '--max_iters=1')
        for name in ('aux.pt', 'sampler.pt'):
            assert (student0 / name).read_bytes() == (teacher / name).read_bytes()
        assert sorted(f.name for f in student0.iterdir() if '.tmp.' in f.name) == []
        run('sample.py', tiny_config, f'--out_dir={student0}', '--num_samples=2', '--steps=1',
            f'--output={tmp_path}/s0.png')
        assert (tmp_path / 's0.png').is_file()
        p0 = ns0['pairs']
        with torch.no_grad():
            mean0 = aux.prior(p0['z'], torch.randn_like(p0['x0']), 0.0)[0]
            y0 = M.solve(lambda x, s: t(x, s, p0['z']), mean0, 3, 'midpoint')
        torch.testing.assert_close(p0['x0'], mean0, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(p0['y'], y0, atol=1e-5, rtol=1e-5)
        # a teacher trained against another aux model
        other = tmp_path / 'other'
        run('train_aux.py', tiny_config, f'--out_dir={other}')
        p = run('train_flow.py', tiny_config, f'--out_dir={other}', f'--reflow_from={teacher}', check=False)
        assert p.returncode == 1 and 'was trained against aux checkpoint' in p.stderr


def test_z_noise_moves_the_z_that_prior_and_flow_see(tiny_config, tmp_path, monkeypatch):
    """z_noise = s: the training z is the posterior sample plus s * N(0, I), and x0 comes from the prior of that noisy
    z; z_noise = 0 draws exactly what the posterior and prior alone would (the paper's randomness); the baseline
    (no z) and a negative std are one-line errors."""
    run('train_aux.py', tiny_config)
    ns = run_inprocess(monkeypatch, 'train_flow.py', tiny_config, '--z_noise=0.5', '--max_iters=1')
    aux, draw = ns['aux'], ns['draw_prior']
    y = ns['get_batch'](ns['dataset'], torch.arange(64), 'cpu')
    x0, sigma, z = draw(y, torch.Generator().manual_seed(3), 0.5)
    x0c, sigmac, zc = draw(y, torch.Generator().manual_seed(3), 0.0)
    g = torch.Generator().manual_seed(3)   # by hand: the posterior sample, the noise, then the prior's eps
    with torch.no_grad():
        z_post = aux.posterior(y, torch.randn(64, *aux.z_shape, generator=g))[0]
        torch.testing.assert_close(zc, z_post)                      # no noise: the posterior sample itself
        noise = torch.randn(z.shape, generator=g)
        torch.testing.assert_close(z, z_post + 0.5 * noise)
        x0_hand, sigma_hand = aux.prior(z, torch.randn(y.shape, generator=g), ns['tau'])
    torch.testing.assert_close(x0, x0_hand)                         # x0 from the prior of the noisy z
    torch.testing.assert_close(sigma, sigma_hand)
    assert abs((z - zc).std().item() - 0.5) < 0.05 and not torch.allclose(sigma, sigmac)
    assert load(tmp_path / 'out' / 'flow.pt')['config']['z_noise'] == 0.5
    for bad, says in (('--z_noise=-0.1', 'got -0.1'), ('--prior=gaussian', 'with --prior=gaussian')):
        args = [bad, '--z_noise=0.1'] if bad.startswith('--prior') else [bad]
        p = run('train_flow.py', tiny_config, *args, check=False)
        assert p.returncode == 1 and 'z_noise' in p.stderr and says in p.stderr and 'Traceback' not in p.stderr


def test_flow_dropout_is_recorded_only_when_set_and_resumes_exactly(tiny_config, tmp_path):
    """flow_dropout: in the checkpoint's model args only when set (so older checkpoints compare equal), the EMA copy
    samples without it, and its masks are seeded per iteration: a resumed run equals an unbroken one."""
    run('train_aux.py', tiny_config)
    run('train_flow.py', tiny_config)
    assert 'dropout' not in load(tmp_path / 'out' / 'flow.pt')['model_args']
    a, b = tmp_path / 'a', tmp_path / 'b'
    for d in (a, b):
        d.mkdir()
        shutil.copy(tmp_path / 'out' / 'aux.pt', d / 'aux.pt')
    run('train_flow.py', tiny_config, f'--out_dir={a}', '--flow_dropout=0.3', '--max_iters=4')
    run('train_flow.py', tiny_config, f'--out_dir={b}', '--flow_dropout=0.3', '--max_iters=2')
    run('train_flow.py', tiny_config, f'--out_dir={b}', '--flow_dropout=0.3', '--max_iters=4', '--init_from=resume')
    ca, cb = load(a / 'flow.pt'), load(b / 'flow.pt')
    assert ca['model_args']['dropout'] == 0.3
    for k in ca['model']:
        torch.testing.assert_close(ca['model'][k], cb['model'][k], atol=0, rtol=0)
    p = run('train_flow.py', tiny_config, f'--out_dir={b}', '--max_iters=6', '--init_from=resume', check=False)
    assert p.returncode == 1 and 'dropout 0.3 there, unset here' in p.stderr  # resumed without it: a one-line error


def test_machine_readable_log_resumes_without_doubled_rows(tiny_config, tmp_path):
    """Each stage appends its log lines to out_dir/<stage>_log.jsonl; a resume from the checkpoint at iteration 2
    drops a row logged after it (a crash lost that step) and continues; benchmarks/plot_log.py plots the run. The
    logged lr is the stage's own (aux_lr, flow_lr, sampler_lr) unless --lr sets one for every stage."""
    out = tmp_path / 'out'
    run('train_aux.py', tiny_config, '--max_iters=2')
    rows = [json.loads(line) for line in open(out / 'aux_log.jsonl')]
    assert [r['iter'] for r in rows] == [1, 2]
    assert {'loss', 'vgl', 'kl_nats', 'lr', 'img_per_s', 'wall_s'} <= set(rows[0]) and rows[1]['wall_s'] > 0
    with open(out / 'aux_log.jsonl', 'a') as f:          # logged after the last checkpoint, then the machine died
        f.write(json.dumps(dict(iter=3, loss=123.0)) + '\n')
    run('train_aux.py', tiny_config, '--max_iters=4', '--init_from=resume')
    rows = [json.loads(line) for line in open(out / 'aux_log.jsonl')]
    assert [r['iter'] for r in rows] == [1, 2, 3, 4] and rows[2]['loss'] != 123.0
    assert rows[3]['wall_s'] > rows[1]['wall_s']            # wall time counts on across the resume
    run('train_flow.py', tiny_config, '--max_iters=2', '--flow_lr=1e-3')
    p = run('benchmarks/plot_log.py', str(out))
    assert 'loss.png' in p.stdout and os.path.getsize(out / 'loss.png') > 0
    flow_rows = [json.loads(line) for line in open(out / 'flow_log.jsonl')]
    assert [r['iter'] for r in flow_rows] == [1, 2]
    # each stage's own lr (after the 2-iteration warmup), and a global --lr overrides them all
    assert rows[3]['lr'] == 3e-4 and flow_rows[1]['lr'] == 1e-3
    run('train_sampler.py', tiny_config, '--max_iters=2', '--sampler_lr=1e-3', '--lr=2e-3')
    assert [json.loads(line)['lr'] for line in open(out / 'sampler_log.jsonl')][1] == 2e-3


def test_torchrun_sampling_writes_the_same_npz_as_one_process(tiny_config, tmp_path):
    """sample.py --save_npz under torchrun: each rank generates its share, rank 0 writes one npz of exactly
    num_samples images, equal to a 1-process run's (every sample has its own seed), whatever the batch size."""
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config)
    out = tmp_path / 'out'
    args = [f'--out_dir={out}', '--num_samples=7', '--steps=2']
    run('sample.py', *args, '--sample_batch_size=3', f'--save_npz={tmp_path}/one.npz', f'--output={tmp_path}/one.png')
    p = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'sample.py', *args,
            '--sample_batch_size=2', f'--save_npz={tmp_path}/two.npz', f'--output={tmp_path}/two.png')
    assert p.stdout.count('wrote') == 2 and 'rank 0 of 2' in p.stdout        # printed once, by rank 0
    one, two = np.load(tmp_path / 'one.npz')['arr_0'], np.load(tmp_path / 'two.npz')['arr_0']
    assert two.shape == (7, 32, 32, 3) and two.dtype == np.uint8
    assert np.array_equal(one, two) and len({a.tobytes() for a in two}) == 7
    assert sorted(os.listdir(tmp_path)) == ['one.npz', 'one.png', 'out', 'tiny.py', 'two.npz', 'two.png']  # no parts
    p = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'sample.py', *args,
            '--mode=interpolate', check=False)
    assert p.returncode != 0 and p.stderr.count('under torchrun, sample.py shares out') == 1


GLOO_THREADS = """
import os, sys, time
sys.path.insert(0, {root!r})
import torch
import common
def names():   # this process's threads, by name
    out = []
    for t in os.listdir('/proc/self/task'):
        try:
            out.append(open(f'/proc/self/task/{{t}}/comm').read().strip())
        except OSError:   # gone since listed
            pass
    return out
threads = lambda: len(names())
before = threads()
rank, world, device, master = common.init_distributed('cpu')
raw = torch.nn.Linear(4, 4)
model = torch.nn.parallel.DistributedDataParallel(raw)          # as in the training scripts
model(torch.randn(2, 4)).sum().backward()
common.check_ranks_in_sync(raw, master)                         # the collective the scripts end with
during = threads()
del model
common.destroy_distributed()
# gloo's TCP loop thread can still be listed for a moment after the group is gone (CI once saw 2 after, not
# 1; by hand, 1 run in 74 with four at once, gone 0.5 s later; it runs no Python). Allow 5 s for that; the
# threads of a group that was not destroyed stay until exit.
for _ in range(100):
    if threads() == before:
        break
    time.sleep(0.05)
left = names()
# one file per rank: two ranks printing to one shared pipe can interleave their lines
with open(os.path.join({out!r}, f'rank{{rank}}.txt'), 'w') as f:
    f.write(f'threads {{before}} before, {{during}} with the group, {{len(left)}} after: {{" ".join(left)}}')
"""


def test_destroy_distributed_joins_gloo_threads(tmp_path):
    """The root of a rare SIGABRT at exit under torchrun: gloo's worker threads outlived the script (the
    process group stayed referenced), and one that was late releasing the last collective's tensors
    asked for the GIL during interpreter shutdown. destroy_distributed() must end those threads."""
    script = tmp_path / 'gloo_threads.py'
    script.write_text(GLOO_THREADS.format(root=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                          out=str(tmp_path)))
    run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', str(script))
    lines = [(tmp_path / f'rank{r}.txt').read_text() for r in (0, 1)]
    for l in lines:
        before, during, after = (int(w) for w in l.split(':')[0].replace(',', '').split() if w.isdigit())
        assert during > before, l        # the group has threads of its own ...
        assert after == before, l        # ... and they are gone once it is destroyed


def test_errors_under_torchrun_print_once_and_every_rank_exits_1(tiny_config, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
               MASTER_PORT='1')   # the error comes before any rendezvous: no port is ever used
    procs = [subprocess.Popen([sys.executable, 'train_flow.py', tiny_config], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)))
             for r in (0, 1)]
    (out0, err0), (out1, err1) = (p.communicate(timeout=120) for p in procs)
    assert [p.returncode for p in procs] == [1, 1]
    assert err0.count('error:') == 1 and 'aux.pt' in err0 and 'Traceback' not in err0
    assert err1 == ''
    procs = [subprocess.Popen([sys.executable, 'train_flow.py', tiny_config, '--lr=-1'], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)))
             for r in (0, 1)]   # a config error, too
    (out0, err0), (out1, err1) = (p.communicate(timeout=120) for p in procs)
    assert [p.returncode for p in procs] == [1, 1]
    assert err0.strip() == 'config error: lr must be at least 0, got -1.0' and err1 == ''
    p = run(sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train_flow.py',
            tiny_config, check=False)
    assert p.returncode != 0 and p.stderr.count("error: prior='learned' needs") == 1, p.stderr


def test_one_line_errors(tiny_config, tmp_path):
    def fails(*args):
        p = run(*args, check=False)
        assert p.returncode == 1, p.stdout + p.stderr
        assert 'Traceback' not in p.stderr, p.stderr
        return p.stderr.strip()
    assert 'aux.pt' in fails('train_flow.py', tiny_config)                      # learned prior, no stage 1
    assert 'no flow model' in fails('sample.py', f'--out_dir={tmp_path}/nothing')
    assert "unknown key 'stpes'" in fails('sample.py', '--stpes=2')
    assert 'not divisible' in fails('train_aux.py', tiny_config, '--aux_patch=3')
    assert 'not divisible by world size' in fails('train_aux.py', tiny_config, '--gradient_accumulation_steps=3')
    assert 'not found' in fails('train_aux.py', tiny_config, '--data=/no/such/file.npy')
    assert "sampler_target must be 'sample' or 'mean'" in fails('train_sampler.py', tiny_config, '--sampler_target=median')
    assert 'sampler_t_dist must be' in fails('train_sampler.py', tiny_config, '--sampler_t_dist=normal')


def test_logged_loss_is_the_mean_over_micro_steps(tiny_config, tmp_path, monkeypatch, capsys):
    run('train_aux.py', tiny_config)
    import model
    seen, real = [], model.lediflow_loss
    monkeypatch.setattr(model, 'lediflow_loss', lambda *a: seen.append(real(*a).detach()) or real(*a))
    run_inprocess(monkeypatch, 'train_flow.py', tiny_config, '--gradient_accumulation_steps=2', '--max_iters=1')
    logged = float(re.search(r'flow iter 1/1: loss ([-\d.]+)', capsys.readouterr().out).group(1))
    assert len(seen) == 2 and abs(seen[0] - seen[1]) > 1e-3      # two micro-steps, two different losses
    assert logged == pytest.approx(float(seen[0] + seen[1]) / 2, abs=1e-4)


def test_float16_trains_with_a_gradient_scaler(tiny_config, tmp_path):
    """float16 gradients underflow without loss scaling: --dtype=float16 runs autocast with a GradScaler (CPU
    autocast here, CUDA on a GPU), whose state is checkpointed and resumed; bfloat16 and float32 need none."""
    out = tmp_path / 'out'
    p = run('train_aux.py', tiny_config, '--dtype=float16', '--max_iters=3')
    assert 'float16' in p.stdout
    sc = load(out / 'aux.pt')['scaler']
    assert sc['scale'] == 2.0 ** 16 and sc['_growth_tracker'] == 3     # it scaled the loss of 3 good steps
    run('train_aux.py', tiny_config, '--dtype=float16', '--max_iters=5', '--init_from=resume')
    assert load(out / 'aux.pt')['scaler']['_growth_tracker'] == 5       # its state survives a resume
    run('train_aux.py', tiny_config, '--dtype=bfloat16', f'--out_dir={tmp_path}/bf16')
    assert load(tmp_path / 'bf16' / 'aux.pt')['scaler'] == {}           # disabled: nothing to keep


def test_sampler_sees_the_mirror_images_the_flow_model_saw(tiny_config, tmp_path, monkeypatch):
    run('train_aux.py', tiny_config)
    ns = run_inprocess(monkeypatch, 'train_sampler.py', tiny_config, '--flip=True', '--max_iters=1')
    N, aux = ns['N'], ns['aux']
    assert len(ns['mu_all']) == 2 * N
    y = ns['get_batch'](ns['dataset'], torch.arange(5), 'cpu')
    with torch.no_grad():
        torch.testing.assert_close(ns['mu_all'][N:N + 5], aux.encode(y.flip(-1))[0])   # the mirrored images' z
        torch.testing.assert_close(ns['mu_all'][:5], aux.encode(y)[0])
    assert not torch.allclose(ns['mu_all'][:5], ns['mu_all'][N:N + 5])
    ns = run_inprocess(monkeypatch, 'train_sampler.py', tiny_config, '--flip=False', '--max_iters=1')
    assert len(ns['mu_all']) == ns['N']


def test_sampler_patch(tiny_config, tmp_path):
    """--sampler_patch=2 groups 2 x 2 z positions into a token (4 tokens on the 4 x 4 grid); the checkpoint
    remembers it, sample.py rebuilds the same sampler from it; a patch that does not divide the grid is refused."""
    out = tmp_path / 'out'
    run('train_aux.py', tiny_config)
    run('train_flow.py', tiny_config)
    run('train_sampler.py', tiny_config, '--sampler_patch=2')
    ck = load(out / 'sampler.pt')
    assert ck['model_args']['patch'] == 2
    assert ck['model']['patch_in.proj.weight'].shape[1] == 2 * 2 * 4      # a token holds 2 x 2 x z_channels
    run('sample.py', tiny_config, '--num_samples=2')
    p = run('train_sampler.py', tiny_config, '--sampler_patch=3', check=False)
    assert p.returncode == 1 and 'Traceback' not in p.stderr, p.stderr
    assert 'sampler_patch=3 does not divide the z grid [4, 4]' in p.stderr
    assert load(out / 'sampler.pt')['model_args']['patch'] == 2          # the refused run wrote nothing


def test_sampler_target_and_t_dist(tiny_config, tmp_path, monkeypatch):
    """--sampler_target=mean trains on the posterior means mu_z, the default on fresh posterior samples;
    --sampler_t_dist=logit_normal draws the sampler's t from a logit-normal."""
    run('train_aux.py', tiny_config)
    import model
    seen, real_loss, real_t = [], model.fm_loss, model.sample_t
    monkeypatch.setattr(model, 'fm_loss', lambda v, z, n: seen.append(z.detach().clone()) or real_loss(v, z, n))
    monkeypatch.setattr(model, 'sample_t', lambda n, dist, *a: seen.append(dist) or real_t(n, dist, *a))

    def targets(*args):
        seen.clear()
        ns = run_inprocess(monkeypatch, 'train_sampler.py', tiny_config, '--max_iters=2', *args)
        zs = [s for s in seen if not isinstance(s, str)]
        dists = {s for s in seen if isinstance(s, str)}
        # for every target row, its distance to the nearest posterior mean
        d = torch.cdist(torch.cat(zs).flatten(1), ns['mu_all'].flatten(1),
                        compute_mode='donot_use_mm_for_euclid_dist').min(1).values
        return d, dists
    d, dists = targets()
    assert d.min() > 1e-3 and dists == {'uniform'}                     # posterior samples: never a mean
    d, dists = targets('--sampler_target=mean', '--sampler_t_dist=logit_normal')
    assert d.max() < 1e-6 and dists == {'logit_normal'}                # exactly the posterior means


def test_sampler_ot_coupling_pairs_each_batch_by_least_cost(tiny_config, tmp_path, monkeypatch):
    """--sampler_coupling=ot: every batch the sampler trains on is paired by minibatch OT (no other pairing of its
    noise and z costs less; the independent coupling's batches do not have that property); refused with reflow."""
    run('train_aux.py', tiny_config)
    import model
    seen, real_loss = [], model.fm_loss
    monkeypatch.setattr(model, 'fm_loss', lambda v, z, n: seen.append((z.detach().clone(), n.clone())) or real_loss(v, z, n))

    def batches(*args):
        seen.clear()
        run_inprocess(monkeypatch, 'train_sampler.py', tiny_config, '--max_iters=3', '--batch_size=16', *args)
        return list(seen)
    cost = lambda z, n, p: (n[p] - z).square().sum().item()
    for z, n in batches('--sampler_coupling=ot'):
        best = model.ot_pairing(n, z)                     # the least-cost pairing of this batch's noise and z
        assert cost(z, n, torch.arange(len(n))) == pytest.approx(cost(z, n, best), rel=1e-9)
    slack = [cost(z, n, torch.arange(len(n))) - cost(z, n, model.ot_pairing(n, z)) for z, n in batches()]
    assert min(slack) > 0                                 # independent noise: a cheaper pairing exists in every batch
    p = run('train_sampler.py', tiny_config, '--sampler_coupling=ot', f'--sampler_reflow_from={tmp_path}/t.pt', check=False)
    assert p.returncode == 1 and 'two couplings' in p.stderr and 'Traceback' not in p.stderr
    p = run('train_sampler.py', tiny_config, '--sampler_coupling=sinkhorn', check=False)
    assert p.returncode == 1 and "sampler_coupling must be 'independent' or 'ot'" in p.stderr


def test_latent_fd_benchmark(tiny_config, tmp_path):
    """benchmarks/latent_fd.py: the floor is its own unit, an untrained sampler is far from the data; a run with a
    holdout (every run of config/emoji.py) works too."""
    out = tmp_path / 'out'
    run('train_aux.py', tiny_config, '--holdout=0.1')
    run('train_sampler.py', tiny_config, '--max_iters=1', '--holdout=0.1')
    p = run('benchmarks/latent_fd.py', str(out), '--settings', 'euler:1', '--repeats', '1')
    rows = {r[1].strip(): (float(r[2].split('+-')[0]), float(r[3])) for r in
            (line.split('|')[1:-1] for line in p.stdout.splitlines() if line.startswith(f'| {out}'))}
    assert set(rows) == {'floor', 'euler x1'} and rows['floor'][1] == 1.0 and rows['floor'][0] > 0
    assert rows['euler x1'][1] > 5                                     # 1 iteration of training: nowhere near
    assert 'solver:steps' in run('benchmarks/latent_fd.py', str(out), '--settings', 'rk9:1', check=False).stderr


def test_z_ceiling_benchmark(tiny_config, tmp_path):
    """benchmarks/z_ceiling.py: every set has the split's number of held-out images, real images score as themselves
    (training images sit at distance 0 from the training set, held-out ones at ratio 1 by definition), the
    differences are those of the rows; a baseline given as the run is a one-line error."""
    import evaluate
    from test_evaluate import tiny_inception
    out, fm = tmp_path / 'out', tmp_path / 'fm'
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config, '--holdout=0.1', '--max_iters=1')
    run('train_flow.py', tiny_config, '--holdout=0.1', '--max_iters=1', '--prior=gaussian', f'--out_dir={fm}')
    torch.manual_seed(0)
    tiny_inception(tmp_path / 'inc.pt')
    args = ['--ref_samples=50', '--bootstrap=20', f'--inception={tmp_path}/inc.pt', f'--eval_dir={tmp_path}/ev']
    run('benchmarks/z_ceiling.py', str(out), *args, '--flow', 'euler:1', f'--baseline={fm}', '--baseline_settings',
        'euler:2', f'--out={tmp_path}/z.json')
    res = json.loads((tmp_path / 'z.json').read_text())
    n_data = len(np.load(os.path.join(ROOT, 'data', 'emoji', 'emoji32.npz'))['images'])
    assert res['n'] == len(evaluate.split_indices(n_data, 'tune', 50, 0.1)[2]) > 100
    rows = {r['set']: r for r in res['rows']}
    assert list(rows) == ['real, held-out', 'real, training', 'z from training, flow euler x1',
                          'z from held-out, flow euler x1', 'sampled z, flow euler x1', 'baseline fm, euler x2']
    assert rows['real, training']['nn_ratio'] < 1e-5 and abs(rows['real, held-out']['nn_ratio'] - 1) < 1e-9
    for r in rows.values():
        assert r['fid_ci'][0] <= r['fid'] <= r['fid_ci'][1] and r['kid_ci'][0] <= r['kid'] <= r['kid_ci'][1]
    for d in res['differences']:
        assert abs(d['fid'] - (rows[d['a']]['fid'] - rows[d['b']]['fid'])) < 1e-9
    # 1 training iteration: the generated sets are far worse than real images
    assert rows['sampled z, flow euler x1']['fid'] > 2 * rows['real, held-out']['fid']
    # MSE to its image: only for the z-from-data rows; the prior mean's, by hand, against the image z came from
    assert {k for k, r in rows.items() if r['mse'] is not None} == {'z from training, flow euler x1',
                                                                    'z from held-out, flow euler x1'}
    from common import get_batch, load_run
    _, aux, _, _ = load_run(str(out), 'cpu')
    _, others, held_idx = evaluate.split_indices(n_data, 'tune', 50, 0.1)
    arr, n, g = np.load(os.path.join(ROOT, 'data', 'emoji', 'emoji32.npz'))['images'], res['n'], torch.Generator()
    g.manual_seed(1337)
    torch.randn(n, *aux.z_shape, generator=g)   # the sampler's noise comes first
    with torch.no_grad():
        for key, idx in (('z from training', others[:n]), ('z from held-out', held_idx)):
            y = get_batch(arr, idx, 'cpu')
            mu_x = aux.decode(aux.posterior(y, torch.randn(n, *aux.z_shape, generator=g))[0])[0]
            assert abs(res['prior_mean_mse'][key] - ((mu_x - y) ** 2).mean().item()) < 1e-6
    assert res['prior_mean_mse']['z from training'] != res['prior_mean_mse']['z from held-out']
    p = run('benchmarks/z_ceiling.py', str(fm), *args, check=False)
    assert p.returncode == 1 and 'gaussian-prior baseline' in p.stderr


def test_sampler_reflow_trains_on_the_teachers_pairs(tiny_config, tmp_path, monkeypatch):
    """--sampler_reflow_from: pairs (n, z = the teacher's ODE solution from n), the student starts from the
    teacher's weights, its training time includes the teacher's; the teacher may not be the file it writes."""
    out = tmp_path / 'out'
    run('train_aux.py', tiny_config)
    run('train_sampler.py', tiny_config, '--max_iters=5')
    shutil.copy(out / 'sampler.pt', out / 'teacher.pt')
    import model
    seen, real_loss = [], model.fm_loss
    monkeypatch.setattr(model, 'fm_loss', lambda v, z, n: seen.append((z.detach().clone(), n.clone())) or real_loss(v, z, n))
    ns = run_inprocess(monkeypatch, 'train_sampler.py', tiny_config, '--max_iters=1', f'--sampler_reflow_from={out}/teacher.pt',
                       '--sampler_reflow_pairs=300', '--sampler_reflow_steps=4', '--sampler_lr=0')   # lr 0: the weights stay put
    teacher = ns['teacher']
    assert ns['n_all'].shape == (300, 4, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(ns['z_all'][:7], model.solve(teacher, ns['n_all'][:7], 4, 'midpoint'))
    (z, n), = seen
    match = torch.cdist(n.flatten(1), ns['n_all'].flatten(1), compute_mode='donot_use_mm_for_euclid_dist').argmin(1)
    torch.testing.assert_close(n, ns['n_all'][match])          # every noise is a teacher's pair's noise ...
    torch.testing.assert_close(z, ns['z_all'][match])          # ... and its target that pair's z
    student, teach = load(out / 'sampler.pt'), load(out / 'teacher.pt')
    assert student['iter'] == 1 and student['train_seconds'] > teach['train_seconds']
    for k, w in teach['ema'].items():                          # it starts from the teacher's weights, not from scratch
        assert torch.equal(student['model'][k], w), k
    p = run('train_sampler.py', tiny_config, f'--sampler_reflow_from={out}/sampler.pt', check=False)
    assert p.returncode == 1 and 'copy it first' in p.stderr


def test_flow_log_counts_clipped_steps(tiny_config, tmp_path):
    """The log's 'clipped' is the fraction of steps since the last row whose gradient grad_clip scaled down:
    all of them at a tiny grad_clip, none without clipping."""
    for clip, want in (('1e-9', 1.0), ('0.0', 0.0)):
        out = tmp_path / f'clip{clip}'
        run('train_flow.py', tiny_config, '--prior=gaussian', f'--grad_clip={clip}', f'--out_dir={out}')
        rows = [json.loads(line) for line in open(out / 'flow_log.jsonl')]
        assert len(rows) == 3 and all(r['clipped'] == want for r in rows)


def test_max_train_seconds_stops_at_the_budget(tiny_config, tmp_path):
    """max_train_seconds stops training once the run's train_seconds (runs resumed from included) reach it, with a
    checkpoint; a budget spent before the first iteration of a new run is a one-line error, not a run without one."""
    out = tmp_path / 'out'
    run('train_flow.py', tiny_config, '--prior=gaussian')
    before = torch.load(out / 'flow.pt', weights_only=True)
    budget = before['train_seconds'] + 4
    p = run('train_flow.py', tiny_config, '--prior=gaussian', '--init_from=resume', '--max_iters=1000000',
            f'--max_train_seconds={budget}')
    after = torch.load(out / 'flow.pt', weights_only=True)
    assert 'the training time reached max_train_seconds' in p.stdout
    assert before['iter'] <= after['iter'] < 1000000 and after['train_seconds'] >= budget
    p = run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={tmp_path}/new', '--max_train_seconds=0.001',
            check=False)
    assert p.returncode == 1 and 'error: max_train_seconds=0.001 is spent before the first iteration' in p.stderr
    assert not os.path.exists(tmp_path / 'new' / 'flow.pt')


def test_keep_every_keeps_snapshots_that_load_as_the_run(tiny_config, tmp_path):
    """keep_every=2 over 5 iterations keeps flow_000002.pt and flow_000004.pt: each the checkpoint at that iteration
    (its EMA differs from the next one's), loadable by sample.py as a run's flow.pt; off by default. The last line
    names the final grid only where one was drawn (not with sample_interval=0)."""
    out = tmp_path / 'out'
    p = run('train_flow.py', tiny_config, '--prior=gaussian', '--max_iters=5', '--keep_every=2')
    grid = re.search(r'flow done: .*, grid (\S+\.png), ', p.stdout).group(1)
    assert os.path.isfile(os.path.join(ROOT, grid))
    kept = sorted(p for p in os.listdir(out) if re.fullmatch(r'flow_\d+\.pt', p))
    assert kept == ['flow_000002.pt', 'flow_000004.pt']
    a, b, last = load(out / kept[0]), load(out / kept[1]), load(out / 'flow.pt')
    assert (a['iter'], b['iter'], last['iter']) == (2, 4, 5)
    assert a['train_seconds'] < b['train_seconds'] <= last['train_seconds']
    assert any(not torch.equal(a['ema'][k], b['ema'][k]) for k in a['ema'])
    snap = tmp_path / 'snap'
    snap.mkdir()
    shutil.copyfile(out / kept[1], snap / 'flow.pt')
    run('sample.py', f'--out_dir={snap}', '--num_samples=2', '--steps=1', '--device=cpu')
    p = run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={tmp_path}/off', '--sample_interval=0')
    assert not [p for p in os.listdir(tmp_path / 'off') if re.fullmatch(r'flow_\d+\.pt', p)]
    assert not [p for p in os.listdir(tmp_path / 'off') if p.endswith('.png')]
    assert 'flow done: ' in p.stdout and 'grid' not in p.stdout.split('flow done: ')[1]
