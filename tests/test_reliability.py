"""What happens when...: kill -9, Ctrl-C, non-finite losses, bad data, bad configs, mismatched or
malicious checkpoints, a full disk. Each test fails if the guarantee breaks."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import ROOT, run

sys.path.insert(0, os.path.join(ROOT, 'data'))


def load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def start(*args):
    """A repo script running in the background, in a session of its own, with Ctrl-C acting as in a terminal (a job
    started with & by a shell without job control, as CI may run the tests, inherits SIGINT ignored)."""
    e = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=e, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def descendants(pid):
    """pid and every process below it (torchrun's workers run in sessions of their own)."""
    children = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                ppid = int(open(f'/proc/{d}/stat').read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def wait_for_iter(proc, path, min_iter):
    """Wait (at most 120 s) until the running script `proc` has written checkpoint `path` with iter >= min_iter."""
    t0 = time.time()
    while time.time() - t0 < 120:
        if proc.poll() is not None:
            raise AssertionError(f'finished before it could be stopped:\n{proc.stdout.read()}')
        try:
            if os.path.isfile(path) and load(path)['iter'] >= min_iter:
                return
        except Exception:
            pass  # being replaced right now; the atomic rename means the next look sees a whole file
        time.sleep(0.05)


def kill_when(proc, path, min_iter, delay):
    """Wait until checkpoint `path` exists with iter >= min_iter, wait `delay` more, then SIGKILL
    every process of the run at once (a dying node), in the middle of whatever it is doing."""
    wait_for_iter(proc, path, min_iter)
    time.sleep(delay)
    for pid in descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


@pytest.mark.parametrize('script,stage', [('train_aux.py', 'aux'), ('train_flow.py', 'flow'),
                                          ('train_sampler.py', 'sampler')])
def test_kill_9_then_resume(tiny_config, tmp_path, script, stage):
    out = tmp_path / 'out'
    if stage != 'aux':
        run('train_aux.py', tiny_config)
    ckpt = out / f'{stage}.pt'
    for delay in (0.0, 0.13, 0.37):   # checkpoints every iteration: kills land mid-step and mid-write
        p = start(script, tiny_config, '--max_iters=400', '--ckpt_interval=1',
                  f"--init_from={'resume' if ckpt.exists() else 'scratch'}")
        kill_when(p, ckpt, 2, delay)
        ck = load(ckpt)                                   # always loadable
        assert 2 <= ck['iter'] < 400 and ck['stage'] == stage
    it = load(ckpt)['iter']
    p = run(script, tiny_config, f'--max_iters={it + 2}', '--init_from=resume')
    assert f'from iteration {it}' in p.stdout
    assert load(ckpt)['iter'] == it + 2
    assert not [f for f in os.listdir(out) if '.tmp.' in f]     # no temp files left behind


def test_kill_9_under_torchrun_then_resume(tiny_config, tmp_path):
    ckpt = tmp_path / 'out' / 'aux.pt'
    args = ['-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2', 'train_aux.py', tiny_config,
            '--batch_size=8']
    p = start(*args, '--max_iters=400', '--ckpt_interval=1')
    kill_when(p, ckpt, 3, 0.2)
    it = load(ckpt)['iter']
    p = run(sys.executable, *args, f'--max_iters={it + 2}', '--init_from=resume')
    assert f'from iteration {it}' in p.stdout and 'DDP: weights identical on all 2 ranks' in p.stdout
    assert load(ckpt)['iter'] == it + 2


def test_ctrl_c_names_the_last_checkpoint(tiny_config, tmp_path):
    ckpt = tmp_path / 'out' / 'aux.pt'
    p = start('train_aux.py', tiny_config, '--max_iters=100000', '--ckpt_interval=1')
    wait_for_iter(p, ckpt, 2)
    p.send_signal(signal.SIGINT)   # Ctrl-C, wherever the run is (the checkpoint written every iteration included)
    out = p.communicate(timeout=60)[0]
    assert p.returncode == -signal.SIGINT and 'Traceback' not in out, out
    it = load(ckpt)['iter']
    assert out.splitlines()[-1] == f'interrupted: {ckpt} holds iteration {it}; --init_from=resume goes on from there'
    # before any checkpoint of its own, and any other error keeps its traceback
    code = "import common; common.say_what_ctrl_c_kept({!r}); raise {}"
    p = run(sys.executable, '-c', code.format(str(ckpt), 'KeyboardInterrupt'), check=False)
    kept = 'is as this run found it (no checkpoint written yet); --init_from=resume goes on from it'
    assert p.returncode == -signal.SIGINT and p.stderr == f'interrupted: {ckpt} {kept}\n'
    p = run(sys.executable, '-c', code.format(str(tmp_path / 'none.pt'), 'ValueError(42)'), check=False)
    assert p.returncode == 1 and 'Traceback' in p.stderr and 'ValueError: 42' in p.stderr


def test_non_finite_loss_stops_and_keeps_checkpoint(tiny_config, tmp_path):
    out = tmp_path / 'out'
    run('train_aux.py', tiny_config, '--max_iters=2')
    # tau = inf makes every prior sample infinite: the very first flow batch has a non-finite loss
    p = run('train_flow.py', tiny_config, '--tau=1e400', '--ckpt_interval=1', check=False)
    assert p.returncode == 1 and 'Traceback' not in p.stderr
    assert 'stage flow: non-finite loss' in p.stderr and 'iteration 0' in p.stderr
    assert not (out / 'flow.pt').exists()
    # an infinite learning rate: weights blow up after a step; the good checkpoint is never overwritten
    run('train_flow.py', tiny_config, '--max_iters=2')
    good = (out / 'flow.pt').read_bytes()
    p = run('train_flow.py', tiny_config, '--lr=1e400', '--max_iters=6', '--ckpt_interval=1', '--init_from=resume',
            check=False)
    assert p.returncode == 1 and 'non-finite' in p.stderr and 'Traceback' not in p.stderr
    assert (out / 'flow.pt').read_bytes() == good


def test_skip_nonfinite_counts_and_continues(tiny_config, tmp_path):
    run('train_aux.py', tiny_config, '--max_iters=2')
    p = run('train_flow.py', tiny_config, '--tau=1e400', '--skip_nonfinite=True')
    assert 'flow iter 3/3' in p.stdout and '3 skipped' in p.stdout
    ck = load(tmp_path / 'out' / 'flow.pt')
    assert ck['iter'] == 3 and all(torch.isfinite(v).all() for v in ck['model'].values())


def test_steps_skipped_one_after_another_stop_the_run(tiny_config, tmp_path):
    """A run whose every step is skipped (here tau = inf makes every loss non-finite, skipped by skip_nonfinite;
    on a GPU, float16 gradients that overflow at every scale) would skip forever: max_skipped_in_a_row stops it
    with a one-line error, in float32 and in float16."""
    run('train_aux.py', tiny_config, '--max_iters=2')
    for dtype in ('float32', 'float16'):
        p = run('train_flow.py', tiny_config, '--tau=1e400', '--skip_nonfinite=True', '--max_iters=10',
                '--max_skipped_in_a_row=4', f'--dtype={dtype}', check=False)
        assert p.returncode == 1 and 'Traceback' not in p.stderr, p.stderr
        assert 'stage flow: 4 optimizer steps in a row skipped' in p.stderr and 'iteration 3' in p.stderr
        assert ('use --dtype=bfloat16 or float32' in p.stderr) == (dtype == 'float16')
    # fewer than the limit: the run goes on and counts them (test_skip_nonfinite_counts_and_continues)


def test_prepare_bad_and_odd_files(tmp_path):
    from prepare import prepare
    src = tmp_path / 'imgs'
    src.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(src / 'rgb.png')
    Image.fromarray(rng.integers(0, 255, (50, 50, 4), dtype=np.uint8), 'RGBA').save(src / 'rgba.png')
    Image.fromarray(rng.integers(0, 255, (50, 50), dtype=np.uint8), 'L').save(src / 'gray.png')
    Image.fromarray(rng.integers(0, 65535, (50, 50), dtype=np.uint16)).save(src / 'gray16.png')
    Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(src / 'tiny.png')
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(src / 'cut.jpg')
    (src / 'cut.jpg').write_bytes((src / 'cut.jpg').read_bytes()[:300])          # truncated
    (src / 'notes.jpg').write_text('not an image')
    n, skipped = prepare(str(src), str(tmp_path / 'd.npy'), 32, workers=1)
    assert n == 4 and skipped == {'too small': 1, 'unreadable': 2}
    a = np.load(tmp_path / 'd.npy', mmap_mode='r')
    assert a.shape == (4, 32, 32, 3) and a.dtype == np.uint8
    transparent = tmp_path / 't'
    transparent.mkdir()
    Image.new('RGBA', (32, 32), (255, 0, 0, 0)).save(transparent / 'clear.png')
    prepare(str(transparent), str(tmp_path / 't.npy'), 32, workers=1)
    assert np.all(np.load(tmp_path / 't.npy') == 255)                            # composited on white
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='no image files'):
        prepare(str(tmp_path / 'empty'), str(tmp_path / 'e.npy'), 32)


def test_data_that_disagrees_with_config_or_aux(tiny_config, tmp_path):
    small = tmp_path / 'small.npy'
    np.save(small, np.zeros((8, 16, 16, 3), np.uint8))
    p = run('train_aux.py', tiny_config, '--image_size=32', f'--data={small}', check=False)
    assert p.returncode == 1 and 'holds 16x16 images but the config says image_size=32' in p.stderr
    np.save(tmp_path / 'f32.npy', np.zeros((8, 16, 16, 3), np.float32))
    p = run('train_aux.py', tiny_config, f'--data={tmp_path}/f32.npy', check=False)
    assert p.returncode == 1 and 'uint8' in p.stderr
    (tmp_path / 'photo.npy').write_bytes(b'\x89PNG\r\n not an array')   # e.g. an image given as the data set
    p = run('train_aux.py', tiny_config, f'--data={tmp_path}/photo.npy', check=False)
    assert p.returncode == 1 and 'could not be read as a .npy/.npz image array' in p.stderr and 'Traceback' not in p.stderr
    run('train_aux.py', tiny_config, '--max_iters=1')
    p = run('train_flow.py', tiny_config, f'--data={small}', check=False)
    assert p.returncode == 1 and 'aux.pt was trained on 32x32x3 data' in p.stderr and 'Traceback' not in p.stderr
    p = run('train_sampler.py', tiny_config, f'--data={small}', check=False)
    assert p.returncode == 1 and 'aux.pt was trained on 32x32x3 data' in p.stderr


def test_mismatched_checkpoints_are_refused(tiny_config, tmp_path):
    out = tmp_path / 'out'
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config, '--max_iters=1')
    run('sample.py', f'--out_dir={out}', '--num_samples=2')
    run('train_aux.py', tiny_config, '--max_iters=1')                      # a new aux model
    p = run('sample.py', f'--out_dir={out}', '--num_samples=2', check=False)
    assert p.returncode == 1 and 'was trained against aux checkpoint' in p.stderr and 'Traceback' not in p.stderr
    p = run('sample.py', f'--out_dir={out}', '--num_samples=2', '--allow_mismatch=True')
    assert 'warning' in p.stderr
    # resuming the flow model on top of another aux model, or with another architecture, is refused too
    p = run('train_flow.py', tiny_config, '--init_from=resume', '--max_iters=2', check=False)
    assert p.returncode == 1 and 'trained against aux checkpoint' in p.stderr
    p = run('train_aux.py', tiny_config, '--init_from=resume', '--max_iters=2', '--aux_widths=[16, 48]', check=False)
    assert p.returncode == 1 and 'model args' in p.stderr and 'widths [16, 32] there, [16, 48] here' in p.stderr


def test_malicious_checkpoint_is_refused(tmp_path):
    marker = tmp_path / 'pwned'

    class Evil:
        def __reduce__(self):
            return (os.system, (f'touch {marker}',))
    out = tmp_path / 'out'
    out.mkdir()
    torch.save({'model_args': Evil()}, out / 'flow.pt')      # a pickle that runs a command when unpickled
    p = run('sample.py', f'--out_dir={out}', check=False)
    assert p.returncode == 1 and 'could not be loaded safely' in p.stderr and 'Traceback' not in p.stderr
    assert not marker.exists()
    torch.save({'model_args': {}, 'model': {'w': torch.zeros(1000)}}, out / 'flow.pt')
    data = (out / 'flow.pt').read_bytes()
    (out / 'flow.pt').write_bytes(data[:len(data) // 2])   # a checkpoint cut short (a copy that did not finish)
    p = run('sample.py', f'--out_dir={out}', check=False)
    assert p.returncode == 1 and 'truncated, corrupt' in p.stderr and 'Traceback' not in p.stderr


def test_ctrl_c_during_a_checkpoint_write_waits_for_it(tmp_path, monkeypatch):
    import common
    path, save = str(tmp_path / 'flow.pt'), torch.save
    common.save_checkpoint({'iter': 1}, path)

    def interrupted_save(obj, f):   # Ctrl-C as the write begins: Python would raise it inside torch.save
        os.kill(os.getpid(), signal.SIGINT)
        save(obj, f)
    monkeypatch.setattr(common.torch, 'save', interrupted_save)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)   # as in a terminal (see start())
    try:
        with pytest.raises(KeyboardInterrupt):
            common.save_checkpoint({'iter': 2}, path)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler   # Ctrl-C acts at once again
    finally:
        signal.signal(signal.SIGINT, inherited)
    monkeypatch.undo()
    assert load(path)['iter'] == common._written[path] == 2   # the write went on to the end and into place
    assert os.listdir(tmp_path) == ['flow.pt']


@pytest.mark.parametrize('handler', ['SIG_DFL', 'SIG_IGN'])
def test_ctrl_c_held_during_a_write_ends_or_is_dropped_as_the_handler_before_says(handler):
    code = (f"import os, signal, common; signal.signal(signal.SIGINT, signal.{handler})\n"
            "with common.ctrl_c_waits():\n"
            "    os.kill(os.getpid(), signal.SIGINT); print('block done', flush=True)\n"
            f"assert signal.getsignal(signal.SIGINT) == signal.{handler}; print('went on', flush=True)")
    p = run(sys.executable, '-c', code, check=False)
    if handler == 'SIG_DFL':   # the process ends by the signal, as it would have without the block, once it is done
        assert p.returncode == -signal.SIGINT and p.stdout == 'block done\n', p
    else:                      # ignored before, ignored after
        assert p.returncode == 0 and p.stdout == 'block done\nwent on\n', p


def test_resume_keeps_the_log_rows_up_to_the_checkpoint_and_drops_torn_ones(tmp_path):
    import common
    path = str(tmp_path / 'flow_log.jsonl')
    rows = [f'{{"iter": {i}, "loss": 0.5}}\n' for i in (1, 2, 3)]
    open(path, 'w').write(rows[0] + '{"iter": 2, "lo\n' + rows[1] + '\n' + rows[2] + '{"iter": 4, "loss": 0.4}')
    common.start_log(path, 3)
    assert open(path).read() == ''.join(rows)                   # the torn row and the one after iteration 3 gone
    common.start_log(path, 0)
    assert open(path).read() == ''                               # a run from scratch starts an empty log


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    import common
    path = str(tmp_path / 'aux.pt')
    common.save_checkpoint({'iter': 1, 'model': {'w': torch.ones(3)}}, path)

    def full_disk(obj, f):
        f.write(b'partial')
        raise OSError(28, 'No space left on device')
    monkeypatch.setattr(common.torch, 'save', full_disk)
    with pytest.raises(SystemExit):
        common.save_checkpoint({'iter': 2, 'model': {'w': torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert load(path)['iter'] == 1
    assert os.listdir(tmp_path) == ['aux.pt']


def test_a_log_or_grid_that_cannot_be_written_is_a_one_line_error(tmp_path, capsys):
    import common
    with pytest.raises(SystemExit):
        common.log_row(str(tmp_path / 'gone' / 'flow_log.jsonl'), iter=1)    # as on a full disk: an OSError
    (tmp_path / 'grid.png').mkdir()                                          # a folder where the PNG should go
    with pytest.raises(SystemExit):
        common.save_grid(torch.zeros(2, 3, 8, 8), str(tmp_path / 'grid.png'))
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith('error: could not write the log') and err[0].endswith('the last checkpoint is kept')
    assert err[1].startswith(f"error: could not write the image '{tmp_path}/grid.png'") and len(err) == 2


def test_impossible_configs_fail_before_work(tiny_config, tmp_path):
    for args, msg in [(['train_aux.py', '--aux_patch=3'], 'not divisible by patch_size'),
                      (['train_flow.py', '--flow_widths=[16, 32, 64]', '--flow_depths=[1, 1, 1]', '--flow_patch=16', '--prior=gaussian'],
                       'not divisible by patch_size'),
                      (['train_aux.py', '--batch_size=6', '--gradient_accumulation_steps=4'], 'not divisible by world size'),
                      (['train_flow.py', '--prior=learned'], 'needs the stage-1 checkpoint'),
                      (['train_flow.py', '--prior=vae'], "prior must be 'learned' or 'gaussian'"),
                      (['train_aux.py', '--init_from=latest'], "init_from must be 'scratch' or 'resume'"),
                      (['sample.py', '--solver=rk45'], 'unknown solver'),
                      (['train_aux.py', '--device=cuda'], 'CUDA is not available'),
                      (['train_aux.py', f'--out_dir={tiny_config}'], 'is a file, where a directory is needed'),
                      (['train_aux.py', f'--out_dir={tiny_config}/out'], 'cannot create the directory'),
                      (['evaluate.py', f'--eval_dir={tiny_config}'], 'is a file, where a directory is needed')]:
        p = run(args[0], tiny_config, *args[1:], check=False)
        assert p.returncode == 1 and msg in p.stderr and 'Traceback' not in p.stderr, (args, p.stderr)
        assert not (tmp_path / 'out' / 'aux.pt').exists()


def test_checkpoint_of_another_layout_is_a_clear_error(tiny_config, tmp_path):
    """A checkpoint written by an older model.py (other parameter names) is refused in one line, when
    sampling and when resuming."""
    out = tmp_path / 'out'
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config, '--max_iters=1')
    ck = load(out / 'flow.pt')
    old = lambda sd: {k.replace('.attn.', '.').replace('.ff.', '.'): v for k, v in sd.items()}   # pre-Block names
    ck['model'], ck['ema'] = old(ck['model']), old(ck['ema'])
    torch.save(ck, out / 'flow.pt')
    for args in (['sample.py', f'--out_dir={out}', '--num_samples=2'],
                 ['train_flow.py', tiny_config, '--init_from=resume', '--max_iters=2']):
        p = run(*args, check=False)
        assert p.returncode == 1 and 'Traceback' not in p.stderr, p.stderr
        assert 'do not fit this model.py' in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
