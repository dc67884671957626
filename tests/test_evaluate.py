"""metrics.py and evaluate.py: each metric against its definition (also on bootstrap resamples), the cost model,
the matching and its interval, standard uint8 inputs, the sweep end to end, and benchmarks/speed.py."""
import json
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

import evaluate as E
import common
import metrics as MT
from conftest import native_grid, run


def test_fid_self_is_zero_and_closed_form():
    g = torch.Generator().manual_seed(0)
    f = torch.randn(500, 16, generator=g, dtype=torch.float64)
    assert abs(MT.fid(f, f)) < 1e-8
    # two Gaussians with commuting covariances Q diag(a) Q^T, Q diag(b) Q^T:
    # FID = |mu1 - mu2|^2 + sum(a + b - 2 sqrt(a b))
    Q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g, dtype=torch.float64))
    a, b = torch.rand(8, generator=g, dtype=torch.float64) + 0.1, torch.rand(8, generator=g, dtype=torch.float64) + 0.1
    mu1, mu2 = torch.randn(8, generator=g, dtype=torch.float64), torch.randn(8, generator=g, dtype=torch.float64)
    expected = ((mu1 - mu2) ** 2).sum() + (a + b - 2 * (a * b).sqrt()).sum()
    got = MT.frechet_distance(mu1, Q @ torch.diag(a) @ Q.T, mu2, Q @ torch.diag(b) @ Q.T)
    assert math.isclose(got, expected.item(), rel_tol=1e-9)
    x = mu1 + torch.randn(20000, 8, generator=g, dtype=torch.float64) * a.sqrt() @ Q.T
    y = mu2 + torch.randn(20000, 8, generator=g, dtype=torch.float64) * b.sqrt() @ Q.T
    assert abs(MT.fid(x, y) - expected.item()) < 0.05 * expected.item()


@pytest.mark.parametrize('n,m,d', [(40, 50, 64), (60, 30, 8)])   # fewer images than dims (the real case), and more
def test_fid_of_a_resample_equals_fid_of_the_duplicated_sets(n, m, d):
    g = torch.Generator().manual_seed(n)
    x = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.randn(d, d, generator=g, dtype=torch.float64) / 3
    y = torch.randn(m, d, generator=g, dtype=torch.float64) + 0.3
    ones = lambda k: torch.ones(k, dtype=torch.float64)
    # (the closed form loses ~1e-8 to sqrt of round-off in the zero eigenvalues of a rank-deficient covariance)
    assert MT.fid_resampled(x, y, ones(n), ones(m), x @ y.T) == pytest.approx(MT.fid(x, y), rel=1e-7)
    c = torch.bincount(torch.randint(n, (n,), generator=g), minlength=n).double()
    dd = torch.bincount(torch.randint(m, (m,), generator=g), minlength=m).double()
    dup = lambda f, k: f.repeat_interleave(k.long(), dim=0)
    assert MT.fid_resampled(x, y, c, dd, x @ y.T) == pytest.approx(MT.fid(dup(x, c), dup(y, dd)), rel=1e-7)


def kid(a, b):
    """KID of two full feature sets, through the resampled form with every image counted once."""
    a, b = a.double(), b.double()
    ones = lambda k: torch.ones(len(k), dtype=torch.float64)
    return MT.kid_resampled(MT.cubic_kernel(a, a), MT.cubic_kernel(b, b), MT.cubic_kernel(a, b), ones(a), ones(b))


def test_kid_unbiased_and_its_resamples_skip_self_pairs():
    g = torch.Generator().manual_seed(2)
    same = [kid(torch.randn(200, 32, generator=g), torch.randn(200, 32, generator=g)) for _ in range(8)]
    assert abs(np.mean(same)) < 0.01 and min(same) < 0 < max(same)      # unbiased: around 0, both signs
    assert kid(torch.randn(200, 32, generator=g), torch.randn(200, 32, generator=g) + 0.5) > 20 * abs(np.mean(same))
    # a resample: the U-statistic over pairs of distinct original images, by brute force
    x, y = torch.randn(12, 5, generator=g, dtype=torch.float64), torch.randn(9, 5, generator=g, dtype=torch.float64)
    c = torch.tensor([0, 3, 1, 0, 2, 1, 1, 0, 2, 1, 0, 1], dtype=torch.float64)
    d = torch.tensor([2, 0, 1, 1, 3, 0, 1, 1, 0], dtype=torch.float64)
    k = lambda a, b: (a @ b.T / 5 + 1) ** 3
    def u(kk, w):
        num = sum(w[i] * w[j] * kk[i, j] for i in range(len(w)) for j in range(len(w)) if i != j)
        return num / sum(w[i] * w[j] for i in range(len(w)) for j in range(len(w)) if i != j)
    expected = u(k(x, x), c) + u(k(y, y), d) - 2 * (c @ k(x, y) @ d) / (c.sum() * d.sum())
    assert MT.kid_resampled(k(x, x), k(y, y), k(x, y), c, d) == pytest.approx(expected.item(), rel=1e-10)


def test_cmmd_equals_brute_force():
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.normalize(torch.randn(7, 5, generator=g, dtype=torch.float64), dim=1)
    y = torch.nn.functional.normalize(torch.randn(9, 5, generator=g, dtype=torch.float64) + 0.5, dim=1)
    k = lambda a, b: math.exp(-float(((a - b) ** 2).sum()) / (2 * 10.0 ** 2))
    kxx = sum(k(a, b) for a in x for b in x) / 49
    kyy = sum(k(a, b) for a in y for b in y) / 81
    kxy = sum(k(a, b) for a in x for b in y) / 63
    assert math.isclose(MT.cmmd(x, y), 1000 * (kxx + kyy - 2 * kxy), rel_tol=1e-9)
    assert MT.cmmd(x, x) == pytest.approx(0, abs=1e-12)
    c = torch.tensor([2, 0, 1, 1, 3, 0, 1], dtype=torch.float64)
    assert MT.cmmd(x, y, c=c) == pytest.approx(MT.cmmd(x.repeat_interleave(c.long(), 0), y), rel=1e-10)


def test_cost_model_recovers_fixed_and_per_nfe():
    g = torch.Generator().manual_seed(0)
    pts = [(n, s) for n in (0, 1, 2, 4, 8) for s in (2, 4, 8)]
    rows = [MT.design_row(n, s, True) for n, s in pts]
    ms = [[3.0 + 2.0 * n + 0.4 * s + 0.05 * torch.randn(1, generator=g).item() for _ in range(5)] for n, s in pts]
    fixed, per_nfe, per_sampler_nfe = MT.fit_cost_model(rows, ms).tolist()
    assert fixed == pytest.approx(3.0, abs=0.05) and per_nfe == pytest.approx(2.0, abs=0.01)
    assert per_sampler_nfe == pytest.approx(0.4, abs=0.01)
    fixed, per_nfe = MT.fit_cost_model([MT.design_row(n, s, False) for n, s in pts], [[0.1 + 1.5 * n] * 3 for n, _ in pts]).tolist()
    assert fixed == pytest.approx(0.1) and per_nfe == pytest.approx(1.5)
    # one slow round (the machine was busy for a moment) does not move the model
    ms[0][0] += 100.0
    fixed, per_nfe, _ = MT.fit_cost_model(rows, ms).tolist()
    assert fixed == pytest.approx(3.0, abs=0.1) and per_nfe == pytest.approx(2.0, abs=0.02)


def test_matching_uses_only_real_ledi_settings():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lq, lms = rng.uniform(10, 100, 7), rng.uniform(1, 50, 7)
        bq, bms = rng.uniform(10, 100, 6), rng.uniform(1, 50, 6)
        t = int(rng.integers(6))
        ratio, i = MT.matched_speedup(lq, lms, bq, bms, t)
        if i is None:
            assert ratio == 0.0 and (lq > bq[t]).all()
        else:
            assert lq[i] <= bq[t] and lms[i] == lms[lq <= bq[t]].min() and ratio == bms[t] / lms[i]
        # the baseline side's interpolation never exceeds the real setting that reaches the target
        target = rng.uniform(10, 100)
        reach = MT.time_to_reach(bq, bms, target)
        order = np.argsort(bms)
        best = np.minimum.accumulate(bq[order])
        if reach is None:
            assert best[-1] > target
        else:
            assert reach <= bms[order][np.argmax(best <= target)] + 1e-12


def test_plateau_target_is_the_cheapest_setting_indistinguishable_from_the_best():
    rng = np.random.default_rng(1)
    true = np.array([100.0, 60.0, 41.0, 40.0, 40.5])            # settings 2-4 on the plateau (noise 0.8)
    ms = np.array([2.0, 4.0, 8.0, 16.0, 32.0])
    obs = true + rng.normal(0, 0.8, 5)
    reps = obs + rng.normal(0, 0.8 * math.sqrt(2), (400, 5))     # noisy replicates around the observation
    assert MT.plateau_target(obs, ms, reps) == 2
    assert MT.plateau_target(np.array([100.0, 60.0, 40.0]), ms[:3], np.array([100.0, 60.0, 40.0]) + rng.normal(0, 0.1, (400, 3))) == 2
    # two equally cheap settings on the plateau (same NFE, another solver): the better one is the target
    q = np.array([60.0, 41.0, 40.6, 40.0])
    assert MT.plateau_target(q, np.array([4.0, 8.0, 8.0, 16.0]), q + rng.normal(0, 0.8, (400, 4))) == 2


def test_vs_best_is_paired():
    """Replicates that share a large per-replicate swing (the run's common resample) and differ by little: the
    difference interval sees only the little. The best gets [0, 0], a setting 10 worse an interval far above 0, one
    0.3 worse an interval that includes 0, though each setting's own spread (~8) is far wider than either gap."""
    rng = np.random.default_rng(3)
    q = np.array([50.0, 40.0, 40.3])
    reps = q + rng.normal(0, 4, (1000, 1)) + rng.normal(0, 0.3, (1000, 3))
    best, ci = MT.vs_best(q, reps)
    assert best == 1 and ci[1].tolist() == [0.0, 0.0]
    assert 8 < ci[0, 0] < 10 < ci[0, 1] < 12
    assert ci[2, 0] < 0 < 0.3 < ci[2, 1] < 2
    assert MT.interval(reps[:, 0])[1] - MT.interval(reps[:, 0])[0] > 10   # unpaired, 10 would be noise
    assert MT.plateau_target(q, np.array([1.0, 4.0, 2.0]), reps) == 2      # the plateau rule reads the same intervals


def fake_curve(learned, settings, ms_true, q_true, noise, rng, n_boot, rounds=5):
    """A metrics.Curve from known qualities and per-NFE costs, as evaluate.py builds it from a bootstrap: for the
    interval test. Quality replicates are noise around the observation; times go through the cost model."""
    rows = [MT.design_row(nfe, snfe, learned) for nfe, snfe in settings]
    times = [[ms * (1 + rng.normal(0, 0.05)) for _ in range(rounds)] for ms in ms_true]
    obs = np.array(q_true) + rng.normal(0, noise, len(q_true))
    coef = MT.fit_cost_model(rows, times)
    coef_reps = []
    for _ in range(n_boot):
        pick = rng.integers(rounds, size=rounds)
        coef_reps.append(MT.fit_cost_model(rows, [[t[i] for i in pick] for t in times]))
    return MT.Curve(names=[f'setting {i}' for i in range(len(settings))], nfe=[n for n, _ in settings], q=obs,
                    q_reps=obs + rng.normal(0, noise, (n_boot, len(obs))),
                    ms=np.array([MT.modelled_ms(coef, r) for r in rows]),
                    ms_reps=np.array([[MT.modelled_ms(c, r) for r in rows] for c in coef_reps]),
                    ms_measured=np.array([np.median(t) for t in times]))


def test_speedup_interval_covers_the_true_ratio():
    """50 seeded trials on synthetic settings with known quality noise and timing noise: the 95% interval of the
    matched speedup covers the true one (the noise-free matching) in most of them."""
    ledi_settings = [(1, 2), (2, 2), (2, 4), (4, 4), (8, 4)]
    ledi_ms = [1.0 + 2 * n + 0.3 * s for n, s in ledi_settings]          # fixed 1, 2 per flow NFE, 0.3 per sampler NFE
    ledi_q = [70.0, 52.0, 47.0, 38.0, 37.5]
    base_settings = [(2, 0), (4, 0), (8, 0), (16, 0), (32, 0)]
    base_ms = [2.0 * n for n, _ in base_settings]
    base_q = [120.0, 70.0, 40.0, 39.8, 40.1]                              # plateau from 8 NFE
    true_ratio = base_ms[2] / ledi_ms[3]                                  # target 40 (8 NFE): LeDiFlow needs (4, 4)
    covered = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        ledi = fake_curve(True, ledi_settings, ledi_ms, ledi_q, 0.7, rng, 200)
        base = fake_curve(False, base_settings, base_ms, base_q, 0.7, rng, 200)
        s = MT.match(ledi, base)
        assert s['ledi_ms'] in list(ledi.ms) and 0 <= s['target_kept'] <= 1
        t = base.names.index(s['baseline_setting'])
        assert s['ratio_measured'] == pytest.approx(base.ms_measured[t] / s['ledi_ms_measured'])
        covered += s['ci'] is not None and s['ci'][0] <= true_ratio <= s['ci'][1]
    assert covered >= 40, covered


def test_bootstrap_pairs_the_settings_of_a_run():
    """Settings of one run share each replicate's resample of the generated images (they come from the same seeds):
    two settings with identical features differ by exactly 0 in every replicate. Another run is resampled on its
    own: the same features there give a difference interval of real width."""
    g = torch.Generator().manual_seed(0)
    ref = MT.Reference(inception=torch.randn(60, 16, generator=g, dtype=torch.float64))
    x = torch.randn(40, 16, generator=g, dtype=torch.float64) + 0.3
    runs = [[MT.Features.against(x, ref), MT.Features.against(x.clone(), ref)], [MT.Features.against(x.clone(), ref)]]
    rows = [[MT.design_row(1, 0, False), MT.design_row(2, 0, False)], [MT.design_row(1, 0, False)]]
    ms = [[[1.0, 1.1, 0.9], [2.0, 2.1, 1.9]], [[1.0, 1.2, 0.8]]]
    stats = MT.bootstrap(runs, rows, ms, ref, 200, 0, ['fid', 'kid'])
    for m in ('fid', 'kid'):
        lo, hi = MT.interval(stats[0].reps[m][:, 1] - stats[0].reps[m][:, 0])
        assert lo == hi == 0
        lo, hi = MT.interval(stats[1].reps[m][:, 0] - stats[0].reps[m][:, 0])
        assert hi - lo > 0.1 * abs(stats[0].est[0][m]), (m, lo, hi)
    assert len(stats[0].coef_reps) == 200 and stats[0].coef.tolist() == pytest.approx([0.0, 1.0], abs=1e-9)


def test_bootstrap_pairs_runs_that_draw_the_same_noise():
    """Runs with the same noise key share each replicate's resample of the generated images: the same features in
    two such runs differ by exactly 0 in every replicate (metrics.paired_diff gives [0, 0]), while a run of another
    key, resampled on its own, differs with real width. A run's replicates do not depend on whether a later run
    shares its key (every run draws its own resample, used or not)."""
    g = torch.Generator().manual_seed(1)
    ref = MT.Reference(inception=torch.randn(60, 16, generator=g, dtype=torch.float64))
    x = torch.randn(40, 16, generator=g, dtype=torch.float64) + 0.3
    runs = [[MT.Features.against(x.clone(), ref)] for _ in range(3)]
    rows = [[MT.design_row(1, 0, False)]] * 3
    ms = [[[1.0, 1.1, 0.9]]] * 3
    stats = MT.bootstrap(runs, rows, ms, ref, 200, 0, ['fid', 'kid'], noise=['ledi', 'ledi', 'fm'])
    alone = MT.bootstrap(runs, rows, ms, ref, 200, 0, ['fid', 'kid'])   # every run its own key
    for m in ('fid', 'kid'):
        reps = [st.reps[m][:, 0] for st in stats]
        assert np.array_equal(reps[0], reps[1])
        assert MT.paired_diff(stats[1].est[0][m], stats[0].est[0][m], reps[1], reps[0]).tolist() == [0.0, 0.0]
        lo, hi = MT.paired_diff(stats[2].est[0][m], stats[0].est[0][m], reps[2], reps[0])
        assert hi - lo > 0.1 * abs(stats[0].est[0][m]), (m, lo, hi)
        assert np.array_equal(alone[0].reps[m], stats[0].reps[m]) and np.array_equal(alone[2].reps[m], stats[2].reps[m])
        assert not np.array_equal(alone[1].reps[m], stats[1].reps[m])


def test_paired_interval_of_a_difference_covers_the_truth_and_is_narrow():
    """Synthetic paired data with a known answer: setting B is setting A's images shifted by delta, so their
    covariances are equal and FID(B) - FID(A) = |delta|^2 + 2 delta . (mean_A - mean_ref); with A and the reference
    drawn from the same N(0, I), the true difference is |delta|^2. The 95% interval of the paired difference covers
    it in at least 10 of 12 trials, and is much narrower than the interval of the same difference taken unpaired
    (B as another run, resampled independently). B as another run that draws the same noise gets exactly the
    paired interval."""
    covered, paired_w, unpaired_w = 0, [], []
    delta = torch.full((8,), 0.08, dtype=torch.float64)
    truth = float(delta @ delta)
    for trial in range(12):
        g = torch.Generator().manual_seed(100 + trial)
        ref = MT.Reference(inception=torch.randn(80, 8, generator=g, dtype=torch.float64))
        a = torch.randn(60, 8, generator=g, dtype=torch.float64)
        runs = [[MT.Features.against(a, ref), MT.Features.against(a + delta, ref)], [MT.Features.against(a + delta, ref)]]
        rows = [[MT.design_row(1, 0, False), MT.design_row(2, 0, False)], [MT.design_row(1, 0, False)]]
        ms = [[[1.0, 1.0], [2.0, 2.0]], [[1.0, 1.0]]]
        stats = MT.bootstrap(runs, rows, ms, ref, 120, trial, ['fid'])
        est = stats[0].est[1]['fid'] - stats[0].est[0]['fid']
        lo, hi = MT.interval(stats[0].reps['fid'][:, 1] - stats[0].reps['fid'][:, 0], est)
        covered += lo <= truth <= hi
        paired_w.append(hi - lo)
        u_lo, u_hi = MT.interval(stats[1].reps['fid'][:, 0] - stats[0].reps['fid'][:, 0], est)
        unpaired_w.append(u_hi - u_lo)
        shared = MT.bootstrap(runs, rows, ms, ref, 120, trial, ['fid'], noise=['same', 'same'])
        assert MT.paired_diff(shared[1].est[0]['fid'], shared[0].est[0]['fid'], shared[1].reps['fid'][:, 0],
                              shared[0].reps['fid'][:, 0]).tolist() == pytest.approx([lo, hi], abs=1e-9)
    assert covered >= 10, covered
    assert np.mean(paired_w) < 0.5 * np.mean(unpaired_w), (np.mean(paired_w), np.mean(unpaired_w))


class ZeroField(torch.nn.Module):
    """A flow whose velocity is 0 everywhere: its images are its starting points."""
    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t):
        return torch.zeros_like(x) * self.p


def test_baseline_samples_at_its_own_temperature():
    """The baseline's tau scales its N(0, I) start in the images evaluate.py scores."""
    s = E.Setting('gaussian prior', 'euler', 1)
    x = {tau: E.make_generator(E.Run('fm', flow=ZeroField(), shape=(3, 8, 8), tau=tau), s)(4, torch.Generator().manual_seed(0))
         for tau in (1.0, 0.5)}
    torch.testing.assert_close(x[0.5], 0.5 * x[1.0])
    assert 0.5 < x[1.0].std() < 1.5


def test_run_labels_tell_runs_of_the_same_name_apart():
    assert E.run_labels(['out/ledi', 'out/fm/']) == ['ledi', 'fm']
    assert E.run_labels(['out/a/ledi', 'out/b/ledi', 'out/fm']) == ['a/ledi', 'b/ledi', 'out/fm']
    with pytest.raises(SystemExit):   # the same directory twice
        E.run_labels(['out/ledi', 'out/./ledi/'])


def test_split_indices_are_disjoint_fixed_and_keep_z_from_data_out_of_the_reference():
    tune_ref, tune_others, tune_held = E.split_indices(3391, 'tune', 1000)
    test_ref, test_others, test_held = E.split_indices(3391, 'test', 1000)
    assert len(tune_ref) == len(test_ref) == 1000 and len(tune_held) == len(test_held) == 0
    assert not set(tune_ref.tolist()) & set(test_ref.tolist())
    for ref, others in ((tune_ref, tune_others), (test_ref, test_others)):
        assert not set(ref.tolist()) & set(others.tolist()) and len(ref) + len(others) == 3391
    assert torch.equal(E.split_indices(3391, 'tune', 1000)[0], tune_ref)            # fixed, whatever the seed
    ref, others, _ = E.split_indices(3391, 'test', 0)                               # 0 = the whole half ...
    assert len(ref) == 3391 - 3391 // 2 and not set(ref.tolist()) & set(others.tolist())   # ... z from data outside it


def test_holdout_images_are_never_trained_on_and_split_between_tune_and_test(tmp_path, capsys):
    """The held-out images: a fixed 10% that load_data leaves out for every stage, halved between the splits,
    never a reference or 'z from data' image."""
    train, held = common.data_split(3391, 0.1)
    assert len(held) == 339 and len(train) == 3391 - 339 and not set(train.tolist()) & set(held.tolist())
    data = np.arange(3391, dtype=np.uint8)[:, None, None, None].repeat(2, 1).repeat(2, 2).repeat(3, 3)
    data[:, 0, 0, 0] = np.arange(3391) % 256                       # item i is recognisable by (i // 256, i % 256)
    data[:, 0, 0, 1] = np.arange(3391) // 256
    np.savez(tmp_path / 'd.npz', images=data)
    seen = common.load_data(str(tmp_path / 'd.npz'), holdout=0.1)
    seen_ids = seen[:, 0, 0, 1].astype(int) * 256 + seen[:, 0, 0, 0]
    assert sorted(seen_ids.tolist()) == train.tolist()               # exactly the training items, none held out
    halves = []
    for split in ('tune', 'test'):
        ref, others, h = E.split_indices(3391, split, 1000, 0.1)
        assert not set(h.tolist()) & (set(ref.tolist()) | set(others.tolist()))
        assert set(h.tolist()) <= set(held.tolist()) and set(ref.tolist()) | set(others.tolist()) == set(train.tolist())
        halves.append(set(h.tolist()))
    assert not halves[0] & halves[1] and len(halves[0] | halves[1]) == 339
    with pytest.raises(SystemExit):
        common.data_split(10, 1.0)
    assert 'error: holdout must be a fraction in [0, 1), got 1.0' in capsys.readouterr().err


def test_memorisation_check_flags_copies_and_not_fresh_samples():
    """Samples that copy training images sit at distance ~0 from them (ratio ~0, nearly all 'closer than held-out');
    fresh samples of the same distribution as the training and held-out images look like held-out ones."""
    g = torch.Generator().manual_seed(0)
    draw = lambda n: torch.randn(n, 16, generator=g, dtype=torch.float64)
    train, held = draw(500), draw(200)
    mem = MT.Memorisation(train=train, held=held, ref_small=train[:200])
    copies = mem.check(train[torch.randint(500, (300,), generator=g)] + 1e-3 * draw(300))
    fresh = mem.check(draw(300))
    assert copies['nn_ratio'] < 0.01 and copies['nn_close'] > 0.95
    assert 0.9 < fresh['nn_ratio'] < 1.1 and fresh['nn_close'] < 0.15
    assert copies['kid_train'] < copies['kid_held'] and abs(fresh['kid_train'] - fresh['kid_held']) < 0.01


def test_quantised_features_equal_those_of_the_saved_png(tmp_path):
    """Generated images are measured as saved: the features of a float image and of its PNG round trip agree."""
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 13, stride=13), torch.nn.Flatten()))
    x = torch.rand(2, 3, 32, 32) * 2.2 - 1.1                     # unquantised, also a little out of range
    q = E.quantize(x)
    assert q.dtype == torch.uint8
    for i in range(2):
        Image.fromarray(q[i].permute(1, 2, 0).numpy()).save(tmp_path / f'{i}.png')
    back = torch.stack([torch.from_numpy(np.array(Image.open(tmp_path / f'{i}.png'))).permute(2, 0, 1) for i in range(2)])
    assert torch.equal(E.inception_features(net, q), E.inception_features(net, back))
    assert not torch.equal(q.float(), ((x.clamp(-1, 1) + 1) * 127.5))   # quantisation did change the floats


def test_reference_feature_cache_is_reused_and_a_torn_one_recomputed(tmp_path, capsys):
    net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 23, stride=23), torch.nn.Flatten()))
    data = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    idx, cache = torch.tensor([3, 7, 1, 10]), str(tmp_path / 'ref.pt')
    want = E.inception_features(net, torch.from_numpy(data[[1, 3, 7, 10]]).permute(0, 3, 1, 2))
    assert torch.equal(E.reference_features(data, idx, net, None, cache).inception, want)
    assert os.listdir(tmp_path) == ['ref.pt']                    # written through a temp file, renamed
    torch.save({'inception': torch.zeros(4, 4), 'clip': None}, cache)
    assert not E.reference_features(data, idx, net, None, cache).inception.any()   # read back, not computed again
    whole = open(cache, 'rb').read()
    open(cache, 'wb').write(whole[:len(whole) // 2])             # a cache cut short (a run stopped mid-write before)
    assert torch.equal(E.reference_features(data, idx, net, None, cache).inception, want)
    assert 'could not be read' in capsys.readouterr().out


def tiny_inception(path):
    """A small random TorchScript network stands in for Inception (2048-d features like the real one)."""
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 23, stride=23), torch.nn.Flatten(), torch.nn.Linear(8 * 13 * 13, 2048))
    torch.jit.script(net).save(str(path))


def test_sweep_end_to_end(tiny_config, tmp_path):
    out, fm = tmp_path / 'out', tmp_path / 'fm'
    hold = '--holdout=0.1'   # every run leaves out the same 10% of the images: the memorisation check compares with them
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config, '--tau=0.8', hold)                 # a run with its own prior temperature
    run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={fm}', hold)
    tiny_inception(tmp_path / 'inc.pt')
    args = [tiny_config, f"--runs=['{out}', '{fm}']", "--eval_ledi=['euler:1', 'midpoint:1']", "--eval_sampler=['euler:1', 'midpoint:2']",
            "--eval_fm=['euler:2', 'midpoint:2']", '--eval_samples=24', '--eval_ref_samples=30', '--eval_bootstrap=20',
            f'--eval_dir={tmp_path}/eval', f'--inception={tmp_path}/inc.pt', '--speed_batch=4', '--speed_repeats=2']
    p = run('evaluate.py', *args)
    assert 'CMMD is skipped' in p.stdout
    res = json.load(open(tmp_path / 'eval' / 'results.json'))
    rows = res['rows']
    kinds = [r['kind'] for r in rows]
    assert kinds.count('sampled z') == 4 and kinds.count('z from data') == 2 and kinds.count('prior only') == 1
    assert kinds.count('gaussian prior') == 2
    for r in rows:
        for key in ('method', 'solver', 'steps', 'nfe', 'ms_measured', 'ms_model', 'fid', 'fid_ci', 'kid', 'kid_ci', 'cmmd', 'latent'):
            assert key in r
        assert r['nfe'] == (r['steps'] * (1 if r['solver'] == 'euler' else 2) if r['steps'] else 0)
        assert r['fid_ci'][0] <= r['fid'] <= r['fid_ci'][1] and r['kid_ci'][0] <= r['kid'] <= r['kid_ci'][1]
        assert r['ms_measured'] > 0 and (r['ms_model'] is None) == (r['kind'] == 'z from data')
        assert (r['ms_sampler'] > 0) == (r['method'] == 'LeDiFlow') and r['latent'] is False
    assert {s['metric'] for s in res['speedup']} == {'fid', 'kid'}
    for s in res['speedup']:
        for key in ('ledi_setting', 'baseline_setting', 'ledi_ms', 'baseline_ms', 'ratio', 'ci', 'target', 'per_setting'):
            assert key in s
    meta = res['meta']
    assert meta['inception_img_per_s'] > 0 and meta['bootstrap'] == 20 and len(meta['runs'][0]['cost_model']) == 3
    assert 'training' in meta['runs'][0]['train'] and meta['runs'][0]['train_seconds'] > 0
    for f in ('results.md', 'results.csv', 'quality_vs_time.png', 'quality_vs_time_kid.png'):
        assert os.path.getsize(tmp_path / 'eval' / f) > 0
    assert meta['split'] == 'tune' and meta['generation_seed'] == meta['seed'] and len(meta['ref_indices']) == 30
    assert meta['runs'][0]['tau'] == 0.8             # the run's own prior temperature (its flow.pt's config)
    # the memorisation check: this split's half of the 339 held-out images, never a reference image
    assert meta['holdout'] == 0.1 and len(meta['held_out_indices']) == 169
    assert not set(meta['held_out_indices']) & set(meta['ref_indices']) and meta['held_out_nn_median'] > 0
    for r in rows:
        g = r['memorisation']
        assert (g is None) == (r['kind'] == 'prior only')
        if g:
            assert g['nn_ratio'] > 0 and 0 <= g['nn_close'] <= 1 and g['fid_held'] > 0 and g['fid_train'] > 0
    assert '## Memorisation check' in open(tmp_path / 'eval' / 'results.md').read()
    # each real setting against its run's best: the best itself gives [0, 0]; diagnostics get none
    for label in ('out', 'fm'):
        real = [r for r in rows if r['label'] == label and r['kind'] in ('sampled z', 'gaussian prior')]
        for m in ('fid', 'kid'):
            best = min(real, key=lambda r: r[m])
            assert best[f'{m}_vs_best_ci'] == [0.0, 0.0]
            assert all(r[f'{m}_vs_best_ci'][0] <= r[f'{m}_vs_best_ci'][1] for r in real)
            assert all(r[f'{m}_vs_best_ci'][1] >= 0 for r in real)
    assert all(r['fid_vs_best_ci'] is None for r in rows if r['kind'] in ('z from data', 'prior only'))
    assert "## Each run's settings against its own best" in open(tmp_path / 'eval' / 'results.md').read()
    # fixed seeds: a rerun (with the cached reference features) gives the same quality numbers and intervals
    run('evaluate.py', *args)
    again = json.load(open(tmp_path / 'eval' / 'results.json'))
    assert [(r['fid'], r['fid_ci'], r['kid']) for r in again['rows']] == [(r['fid'], r['fid_ci'], r['kid']) for r in rows]
    # the test split: other reference images, other generation seeds; with the other few-step routes as contenders
    run('train_flow.py', tiny_config, '--prior=gaussian', '--coupling=ot', f'--out_dir={tmp_path}/fm_ot', hold)
    run('train_flow.py', tiny_config, '--prior=gaussian', f'--reflow_from={fm}', '--reflow_pairs=8', '--reflow_steps=2',
        f'--out_dir={tmp_path}/fm_2rf', hold)
    os.symlink(fm, tmp_path / 'fm_again')            # the same run twice: paired between runs, it differs by exactly 0
    runs = f"--runs=['{out}', '{fm}', '{tmp_path}/fm_ot', '{tmp_path}/fm_2rf', '{tmp_path}/fm_again']"
    run('evaluate.py', tiny_config, runs, "--eval_ledi=['euler:1']", "--eval_sampler=['euler:1']", "--eval_fm=['euler:2']",
        *args[5:], '--eval_split=test', f'--eval_dir={tmp_path}/eval_test', '--tau=1.0')
    test_res = json.load(open(tmp_path / 'eval_test' / 'results.json'))
    test_meta = test_res['meta']
    assert [r['method'] for r in test_meta['runs']] == ['LeDiFlow', 'FM', 'FM-OT', 'FM-2RF', 'FM']
    assert {(s['baseline_run'], s['metric']) for s in test_res['speedup']} == \
        {(b, m) for b in ('fm', 'fm_ot', 'fm_2rf', 'fm_again') for m in ('fid', 'kid')}
    # the baselines draw the same noise: each is compared with the first, 'fm', paired; LeDiFlow with none
    by_label = {r['label']: r for r in test_res['rows'] if r['kind'] == 'gaussian prior'}
    assert by_label['fm']['vs_run'] is None and all(r['vs_run'] is None for r in test_res['rows'] if r['label'] == 'out')
    assert by_label['fm_ot']['vs_run'] == by_label['fm_2rf']['vs_run'] == by_label['fm_again']['vs_run'] == 'fm'
    for m in ('fid', 'kid'):
        assert by_label['fm_again'][f'{m}_vs_run'] == 0 and by_label['fm_again'][f'{m}_vs_run_ci'] == [0.0, 0.0]
        lo, hi = by_label['fm_ot'][f'{m}_vs_run_ci']
        assert lo < hi and by_label['fm_ot'][f'{m}_vs_run'] == by_label['fm_ot'][m] - by_label['fm'][m]
    assert '## Runs against the first run that draws the same noise' in open(tmp_path / 'eval_test' / 'results.md').read()
    assert test_meta['runs'][3]['train_seconds'] > test_meta['runs'][1]['train_seconds']   # the teacher's time too
    assert 'reflow iters' in test_meta['runs'][3]['train'] and "teacher's" in test_meta['runs'][3]['train']
    assert 'reflow' not in test_meta['runs'][1]['train']
    assert test_meta['runs'][0]['tau'] == 1.0        # the command line beats the run's own
    assert test_meta['split'] == 'test' and test_meta['generation_seed'] != meta['generation_seed']
    assert not set(test_meta['ref_indices']) & set(meta['ref_indices'])
    assert test_meta['ref_indices_sha1'] != meta['ref_indices_sha1']
    assert len(test_meta['held_out_indices']) == 170 and not set(test_meta['held_out_indices']) & set(meta['held_out_indices'])
    # runs that left out different images cannot share one memorisation check
    run('train_flow.py', tiny_config, '--prior=gaussian', f'--out_dir={tmp_path}/fm_all')
    p = run('evaluate.py', *args[:1], f"--runs=['{fm}', '{tmp_path}/fm_all']", *args[2:], check=False)
    assert p.returncode == 1 and 'error: the runs were trained with different holdouts' in p.stderr
    p = run('evaluate.py', *args, '--eval_samples=1', check=False)   # FID and KID need two images at least
    assert p.returncode == 1 and p.stderr.strip() == ('error: eval_samples (1) and eval_ref_samples (30; 0 = all) must '
                                                      'be at least 2: FID needs a covariance, KID pairs of images')
    p = run('evaluate.py', *args, '--eval_sampler=[]', check=False)   # was an IndexError deep inside
    assert p.returncode == 1 and p.stderr.strip() == (f'error: {out} is a LeDiFlow run, but eval_sampler is empty: it '
                                                      f'would have nothing to evaluate')


def test_save_npz_reloads_the_same_pixels(tiny_config, tmp_path):
    out = tmp_path / 'out'
    for script in ('train_aux.py', 'train_flow.py', 'train_sampler.py'):
        run(script, tiny_config)
    p = run('sample.py', f'--out_dir={out}', '--num_samples=5', f'--save_npz={tmp_path}/s.npz', f'--output={tmp_path}/s.png')
    assert 'arr_0' in p.stdout
    a = np.load(tmp_path / 's.npz')['arr_0']
    assert a.dtype == np.uint8 and a.shape == (5, 32, 32, 3)
    grid = native_grid(tmp_path / 's.png')                            # 5 images in rows of 3, 2 px gaps
    for i in range(5):
        r, c = divmod(i, 3)
        assert np.array_equal(a[i], grid[2 + r * 34:2 + r * 34 + 32, 2 + c * 34:2 + c * 34 + 32])


def test_speed_benchmark_times_random_networks(tiny_config, tmp_path):
    p = run('benchmarks/speed.py', tiny_config, '--image_size=32', "--eval_ledi=['midpoint:1', 'midpoint:2']",
            '--speed_batch=2', '--speed_repeats=1', f'--eval_dir={tmp_path}/s')
    assert '| LeDiFlow | False | midpoint x2 | 4 |' in p.stdout
    res = json.load(open(tmp_path / 's' / 'speed.json'))
    rows = res['rows']
    assert len(rows) == 4 and {r['method'] for r in rows} == {'LeDiFlow', 'FM'}
    for r in rows:
        assert r['ms_flow'] > 0 and (r['ms_sampler'] > 0) == (r['method'] == 'LeDiFlow')
    # the networks are the training scripts' own: the same parameter count as a trained tiny run
    run('train_aux.py', tiny_config, '--max_iters=1')
    aux = torch.load(tmp_path / 'out' / 'aux.pt', weights_only=True)
    assert res['parameters_m']['aux'] == pytest.approx(sum(v.numel() for v in aux['model'].values()) / 1e6)
    p = run('benchmarks/speed.py', tiny_config, check=False)
    assert p.returncode == 1 and 'needs image_size' in p.stderr
    p = run('benchmarks/speed.py', tiny_config, '--image_size=32', '--sampler_patch=3', check=False)
    assert p.returncode == 1 and p.stderr.strip() == 'error: sampler_patch=3 does not divide the z grid [4, 4]'
