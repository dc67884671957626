"""
Plot a run's loss curves from the machine-readable logs every training stage appends to:
out_dir/aux_log.jsonl, flow_log.jsonl, sampler_log.jsonl (one JSON object per log line: iter, loss and its
parts, lr, images/s, wall_s). Resumed runs continue their file without doubled rows.

    python benchmarks/plot_log.py out/emoji                 # -> out/emoji/loss.png
    python benchmarks/plot_log.py out/ffhq --output=ffhq_loss.png
"""
import argparse
import json
import os


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out_dir')
    ap.add_argument('--output', default='')
    a = ap.parse_args()
    logs = {s: os.path.join(a.out_dir, f'{s}_log.jsonl') for s in ('aux', 'flow', 'sampler')}
    logs = {s: [json.loads(line) for line in open(p) if line.strip()] for s, p in logs.items() if os.path.isfile(p)}
    if not any(logs.values()):
        raise SystemExit(f"error: no *_log.jsonl with rows in '{a.out_dir}'; train a stage there first")
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    stages = [s for s in logs if logs[s]]
    fig, axes = plt.subplots(1, len(stages), figsize=(4.5 * len(stages), 3.6), squeeze=False)
    for ax, s in zip(axes[0], stages):
        rows = logs[s]
        its = [r['iter'] for r in rows]
        ax.plot(its, [r['loss'] for r in rows], label='loss')
        if s == 'aux':   # the VGL can go far below 0: the loss parts on the same axis
            ax.plot(its, [r['vgl'] for r in rows], label='vgl', alpha=0.7)
        ax.set_title(f'{s}: {its[-1]} iterations, {rows[-1]["wall_s"] / 60:.1f} min')
        ax.set_xlabel('iteration')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    out = a.output or os.path.join(a.out_dir, 'loss.png')
    fig.savefig(out, dpi=110)
    print(f'wrote {out}')


if __name__ == '__main__':
    main()
