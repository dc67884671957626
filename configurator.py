"""
Configuration, nanoGPT style: flat Python globals, overridden by config files and --key=value.

    python train_flow.py config/ffhq.py --batch_size=64 --compile=True

1. config/defaults.py is executed first: it defines every key of every stage with its default
   (the one place to look up what a setting means).
2. Each config file named on the command line is executed in order, seeing the values so far.
3. Each --key=value is parsed with ast.literal_eval (a bare word stays a string).
-h or --help prints the script's docstring and exits.

Unlike nanoGPT's configurator, mistakes are one-line errors, not AssertionErrors or silent typos:
an unknown key (from the command line or a config file) names the closest known keys; a value of
the wrong type names the key and both types; a number out of its range (a negative lr, ema_decay
above 1) names the range. An int may set a float, None may be set anywhere a default is None, bools
parse from True/False (any case).
"""
import ast
import difflib
import os
import sys

DEFAULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'config', 'defaults.py')


def fail(msg):
    # under torchrun every rank reads the same config and meets the same error: rank 0 says it, every rank exits 1
    sys.exit(f'config error: {msg}' if int(os.environ.get('RANK', 0)) == 0 else 1)


def _exec_file(path, cfg):
    if not os.path.isfile(path):
        fail(f"config file '{path}' does not exist")
    ns = dict(cfg, __file__=os.path.abspath(path))  # a config file may build on another (config/afhq.py)
    try:
        exec(compile(open(path).read(), path, 'exec'), ns)
    except Exception as e:  # a syntax or name error in a config file: say where
        fail(f"{path}: {type(e).__name__}: {e}")
    return {k: v for k, v in ns.items() if not k.startswith('_') and not callable(v) and type(v).__name__ != 'module'}


def _unknown(key, known, where):
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ''
    fail(f"unknown key '{key}' ({where}){hint}")


def _check_type(key, value, default, where):
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return type(default)(value)
    elif isinstance(value, type(default)):
        return value
    fail(f"{key} must be {type(default).__name__} ({where}), got {type(value).__name__} {value!r}")


def parse_value(s):
    if s.lower() in ('true', 'false'):
        return s.lower() == 'true'
    try:
        return ast.literal_eval(s)
    except (ValueError, SyntaxError):
        return s  # a bare word, e.g. --device=cpu


# Numeric settings with a valid range, checked once here: a value outside it is a one-line error before any work,
# not a ZeroDivisionError in a loop, a ValueError from deep inside torch, or a run that silently learns nothing
# (w_max = 0 zeroes LeDiFlow's loss; ema_decay > 1 makes the EMA weights diverge). 0 means "the stage's own" for
# lr, batch_size and max_iters, and "off" for grad_clip, keep_every, max_train_seconds and sample_interval.
AT_LEAST_0 = ('lr aux_lr flow_lr sampler_lr min_lr weight_decay warmup_iters grad_clip batch_size max_iters '
              'max_train_seconds keep_every sample_interval kl_weight tau z_noise').split()
AT_LEAST_1 = ('log_interval ckpt_interval gradient_accumulation_steps max_skipped_in_a_row aux_batch_size '
              'flow_batch_size sampler_batch_size aux_max_iters flow_max_iters sampler_max_iters reflow_pairs '
              'reflow_steps sampler_reflow_pairs sampler_reflow_steps steps sampler_steps num_samples '
              'sample_batch_size variations invert_steps eval_bootstrap speed_batch speed_repeats').split()


def check_ranges(cfg):
    for keys, ok, rule in ((AT_LEAST_0, lambda v: v >= 0, 'at least 0'), (AT_LEAST_1, lambda v: v >= 1, 'at least 1'),
                           (['w_max'], lambda v: v > 0, 'above 0'),
                           (['ema_decay', 'flow_dropout'], lambda v: 0 <= v < 1, 'in [0, 1)')):
        for key in keys:
            if not ok(cfg[key]):
                fail(f'{key} must be {rule}, got {cfg[key]!r}')
    if len(cfg['betas']) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in cfg['betas']):
        fail(f"betas must be two numbers in [0, 1) (AdamW's), got {cfg['betas']!r}")
    if cfg['logvar_min'] >= cfg['logvar_max']:
        fail(f"logvar_min ({cfg['logvar_min']}) must be below logvar_max ({cfg['logvar_max']})")


def _help():
    """-h / --help: the running script's docstring and where the settings are explained (rank 0), then exit 0."""
    if int(os.environ.get('RANK', 0)) == 0:
        where = os.path.relpath(DEFAULTS)
        where = DEFAULTS if where.startswith('..') else where
        try:
            print((getattr(sys.modules['__main__'], '__doc__', None) or '').strip() + f'\n\nSettings: config files '
                  f'and --key=value, over {where} (every key, its default and what it means).', flush=True)
        except BrokenPipeError:   # `--help | head`: the reader is gone; nothing more to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(0)


def configure(argv=None, set_by=None):
    """-> dict of every config key, after defaults, config files and --key=value overrides. If a dict set_by is
    given, it receives, for every key that a config file or the command line set, where: the file's path or
    'command line' (sample.py uses it to let a run's own settings fill in what neither gave)."""
    argv = sys.argv[1:] if argv is None else argv
    set_by = {} if set_by is None else set_by
    if '-h' in argv or '--help' in argv:
        _help()
    cfg = _exec_file(DEFAULTS, {})
    defaults = dict(cfg)  # types are checked against the defaults
    for arg in argv:
        if not arg.startswith('--'):
            new = _exec_file(arg, cfg)
            for k, v in new.items():
                if k not in defaults:
                    _unknown(k, defaults, f'in {arg}')
                if v is not cfg[k]:
                    cfg[k] = _check_type(k, v, defaults[k], f'in {arg}')
                    set_by[k] = arg
            continue
        if '=' not in arg:
            fail(f"'{arg}' has no value; write --key=value")
        key, s = arg[2:].split('=', 1)
        if key not in defaults:
            _unknown(key, defaults, 'on the command line')
        cfg[key] = _check_type(key, parse_value(s), defaults[key], 'on the command line')
        set_by[key] = 'command line'
    check_ranges(cfg)
    return cfg


def take(cfg, names):
    """[cfg[k] for k in names.split()]: each script unpacks the settings it reads into plain variables
    at its top, so that a reader (and an editor's go-to-definition) finds where each one comes from."""
    return [cfg[k] for k in names.split()]
