"""configurator.py: overrides, types, one-line errors for every mistake, and --help."""
import subprocess
import sys

import pytest

from configurator import configure
from conftest import ROOT


def error(argv):
    with pytest.raises(SystemExit) as e:
        configure(argv)
    msg = str(e.value)
    assert msg.startswith('config error:') and '\n' not in msg
    return msg


def test_defaults_and_overrides(tmp_path):
    cfg = configure([])
    assert cfg['lr'] == 0.0 and cfg['flow_lr'] == 3e-4 and cfg['prior'] == 'learned'
    f = tmp_path / 'c.py'
    f.write_text("flow_batch_size = 32\nlr = 1\nflow_widths = [8, 16]\naux_max_iters = flow_batch_size * 2\n")
    cfg = configure([str(f), '--flow_batch_size=48', '--flip=true', '--tau=0.5', '--device=cpu'])
    assert cfg['flow_batch_size'] == 48                       # command line beats the file
    assert cfg['aux_max_iters'] == 64                         # files see earlier values
    assert cfg['lr'] == 1.0 and isinstance(cfg['lr'], float)  # an int may set a float
    assert cfg['flip'] is True and cfg['tau'] == 0.5 and cfg['device'] == 'cpu'
    assert cfg['flow_widths'] == [8, 16]
    assert configure(['--flip=False'])['flip'] is False


def test_unknown_key_names_closest():
    msg = error(['--flow_widht=[1]'])
    assert "'flow_widht'" in msg and "'flow_widths'" in msg


def test_unknown_key_in_file(tmp_path):
    f = tmp_path / 'c.py'
    f.write_text('lerning_rate = 1e-3\n')
    msg = error([str(f)])
    assert 'lerning_rate' in msg and str(f) in msg


def test_wrong_types():
    assert 'max_iters must be int' in error(['--max_iters=abc'])
    assert 'flip must be bool' in error(['--flip=1'])
    assert 'lr must be float' in error(['--lr=fast'])
    assert 'aux_widths must be list' in error(['--aux_widths=64'])


def test_other_mistakes(tmp_path):
    assert 'has no value' in error(['--tau'])
    assert 'does not exist' in error([str(tmp_path / 'missing.py')])
    bad = tmp_path / 'bad.py'
    bad.write_text('lr = = 3\n')
    assert 'SyntaxError' in error([str(bad)])
    assert 'ckpt_interval must be at least 1' in error(['--ckpt_interval=0'])   # was a ZeroDivisionError in the loop
    assert 'log_interval must be at least 1' in error(['--log_interval=-5'])
    assert 'sample_interval must be at least 0' in error(['--sample_interval=-1'])
    assert configure(['--sample_interval=0'])['sample_interval'] == 0


def test_out_of_range_values():
    """Each of these ran before (or raised deep inside torch): w_max 0 zeroes the loss, ema_decay > 1 diverges."""
    for arg, says in (('--lr=-1', 'lr must be at least 0, got -1.0'), ('--w_max=0', 'w_max must be above 0'),
                      ('--ema_decay=1.5', 'ema_decay must be in [0, 1)'), ('--flow_dropout=1', 'flow_dropout must be'),
                      ('--warmup_iters=-5', 'warmup_iters must be at least 0'),
                      ('--gradient_accumulation_steps=0', 'gradient_accumulation_steps must be at least 1'),
                      ('--speed_repeats=0', 'speed_repeats must be at least 1'), ('--betas=[0.9]', 'betas must be two'),
                      ('--betas=[0.9, 1.0]', 'betas must be two'), ('--logvar_min=5', 'logvar_min (5.0) must be below')):
        assert says in error([arg]), arg
    cfg = configure(['--sampler_lr=0', '--grad_clip=0', '--ema_decay=0', '--tau=0'])   # the edges stay allowed
    assert cfg['sampler_lr'] == 0 and cfg['ema_decay'] == 0


@pytest.mark.parametrize('script,flag', [('sample.py', '--help'), ('train_flow.py', '-h')])
def test_help_prints_the_scripts_docstring(script, flag, tmp_path):
    p = subprocess.run([sys.executable, f'{ROOT}/{script}', 'config/emoji.py', flag], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    first_line = open(f'{ROOT}/{script}').read().split('"""')[1].strip().splitlines()[0]
    assert p.returncode == 0 and p.stderr == '' and p.stdout.startswith(first_line)
    assert p.stdout.rstrip().endswith(f'over {ROOT}/config/defaults.py (every key, its default and what it means).')
    # `--help | head`: the reader may be gone before the help is written; no BrokenPipeError traceback
    p = subprocess.Popen([sys.executable, f'{ROOT}/{script}', flag], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    assert p.stderr.read() == b'' and p.wait(timeout=120) == 0
