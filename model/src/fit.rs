//! FS-neuron parameter fitter (experimental v1).

use crate::activation::Activation;
use crate::neuron::{FsParams, MAX_K};
use anyhow::{Result, ensure};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

pub const EVAL_POINTS: usize = 100_000;

#[derive(Clone, Debug)]
pub struct FitConfig {
    pub activation: Activation,
    pub k: usize,
    pub range: (f64, f64),
    pub restarts: usize,
    pub iterations: usize,
    pub seed: u64,
    pub threads: usize,
    pub lr: f64,
    pub jitter: f64,
    pub kicks: usize,
    pub kick: f64,
    pub scaled: bool,
    pub revive: f64,
    pub first: usize,
    pub local: usize,
    pub lr_local: f64,
}

impl FitConfig {
    pub fn new(activation: Activation, k: usize, range: (f64, f64)) -> Self {
        FitConfig {
            activation,
            k,
            range,
            restarts: 32,
            iterations: 2000,
            seed: 1,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            lr: 0.02,
            jitter: 0.1,
            kicks: 0,
            kick: 0.3,
            scaled: false,
            revive: 0.0,
            first: 4000,
            local: 500,
            lr_local: 0.25,
        }
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_K).contains(&self.k),
            "K = {} time steps is outside 1..={MAX_K}",
            self.k
        );
        Ok(())
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Quality {
    pub mse: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    pub mean_spikes: f64,
    pub points: usize,
}

fn grid_point(range: (f64, f64), points: usize, i: usize) -> f64 {
    if points < 2 {
        return range.0;
    }
    range.0 + (range.1 - range.0) * i as f64 / (points - 1) as f64
}

pub fn quality(
    params: &FsParams,
    activation: Activation,
    range: (f64, f64),
    points: usize,
) -> Quality {
    let mut se = 0.0;
    let mut sa = 0.0;
    let mut max: f64 = 0.0;
    let mut spikes = 0u64;
    for i in 0..points {
        let x = grid_point(range, points, i);
        let (y, mask) = params.fire(x);
        let e = (y - activation.apply(x)).abs();
        se += e * e;
        sa += e;
        max = max.max(e);
        spikes += mask.count_ones() as u64;
    }
    let n = points as f64;
    Quality {
        mse: se / n,
        max_abs_error: max,
        mean_abs_error: sa / n,
        mean_spikes: spikes as f64 / n,
        points,
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct FitReport {
    pub params: FsParams,
    pub quality: Quality,
    pub restarts_done: usize,
}

struct Grid {
    activation: Activation,
    range: (f64, f64),
    x: Vec<f64>,
    s1: Vec<f64>,
    s2: Vec<f64>,
}

impl Grid {
    fn new(activation: Activation, range: (f64, f64), points: usize) -> Self {
        let x: Vec<f64> = (0..points).map(|i| grid_point(range, points, i)).collect();
        let mut s1 = Vec::with_capacity(points + 1);
        let mut s2 = Vec::with_capacity(points + 1);
        let (mut a, mut b) = (0.0, 0.0);
        s1.push(a);
        s2.push(b);
        for &xi in &x {
            let f = activation.apply(xi);
            a += f;
            b += f * f;
            s1.push(a);
            s2.push(b);
        }
        Grid {
            activation,
            range,
            x,
            s1,
            s2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    start: usize,
    end: usize,
    mask: u32,
}

fn push_run(out: &mut Vec<Run>, start: usize, end: usize, mask: u32) {
    match out.last_mut() {
        Some(last) if last.mask == mask => last.end = end,
        _ => out.push(Run { start, end, mask }),
    }
}

fn runs(params: &FsParams, grid: &Grid, out: &mut Vec<Run>, stack: &mut Vec<(usize, u32, usize, u32)>, leaves: &mut Vec<(usize, usize, f64)>, probes: &mut Vec<(usize, u32)>) {
    out.clear();
    let n = grid.x.len();
    let mask = |i: usize| params.fire(grid.x[i]).1;
    // predicted boundaries from the threshold tree
    leaves.clear();
    leaves.push((0, n, 0.0));
    let mut next: Vec<(usize, usize, f64)> = Vec::new();
    let lo = grid.range.0;
    let inv = (n - 1) as f64 / (grid.range.1 - grid.range.0);
    for t in 0..params.k() {
        next.clear();
        for &(ia, ib, hs) in leaves.iter() {
            let c = params.t[t] + hs;
            let ic = ((c - lo) * inv).ceil();
            if ic <= ia as f64 {
                next.push((ia, ib, hs + params.h[t]));
            } else if ic >= ib as f64 {
                next.push((ia, ib, hs));
            } else {
                let ic = ic as usize;
                next.push((ia, ic, hs));
                next.push((ic, ib, hs + params.h[t]));
            }
        }
        std::mem::swap(leaves, &mut next);
    }
    probes.clear();
    for &(ia, ib, _) in leaves.iter() {
        probes.push((ia, mask(ia)));
        if ib - 1 > ia {
            probes.push((ib - 1, mask(ib - 1)));
        }
    }
    for w in probes.windows(2) {
        let ((a0, m0), (b0, m1)) = (w[0], w[1]);
        stack.clear();
        stack.push((a0, m0, b0, m1));
        while let Some((a, ma, b, mb)) = stack.pop() {
            if ma == mb || b == a + 1 {
                push_run(out, a, b, ma);
            } else {
                let m = (a + b) / 2;
                let mm = mask(m);
                stack.push((m, mm, b, mb));
                stack.push((a, ma, m, mm));
            }
        }
    }
    let last = probes.last().unwrap();
    push_run(out, last.0, n, last.1);
}

fn solve_d(runs: &[Run], grid: &Grid, k: usize) -> Vec<f64> {
    let mut g = [[0.0f64; MAX_K]; MAX_K];
    let mut r = [0.0f64; MAX_K];
    for run in runs {
        let c = (run.end - run.start) as f64;
        let s = grid.s1[run.end] - grid.s1[run.start];
        let mut ma = run.mask;
        while ma != 0 {
            let a = ma.trailing_zeros() as usize;
            ma &= ma - 1;
            r[a] += s;
            g[a][a] += c;
            let mut mb = ma;
            while mb != 0 {
                let b = mb.trailing_zeros() as usize;
                mb &= mb - 1;
                g[a][b] += c;
            }
        }
    }
    // Cholesky of the symmetric matrix (upper triangle filled), skipping dependent columns.
    let mut l = [[0.0f64; MAX_K]; MAX_K];
    let mut dead = [false; MAX_K];
    for j in 0..k {
        let mut s = g[j][j];
        for p in 0..j {
            s -= l[j][p] * l[j][p];
        }
        if s <= 1e-9 * (g[j][j] + 1.0) {
            dead[j] = true;
            continue;
        }
        let piv = s.sqrt();
        l[j][j] = piv;
        for i in j + 1..k {
            let mut s = g[j][i];
            for p in 0..j {
                s -= l[i][p] * l[j][p];
            }
            l[i][j] = s / piv;
        }
    }
    let mut z = [0.0f64; MAX_K];
    for i in 0..k {
        if dead[i] {
            continue;
        }
        let mut s = r[i];
        for p in 0..i {
            s -= l[i][p] * z[p];
        }
        z[i] = s / l[i][i];
    }
    let mut d = vec![0.0; k];
    for i in (0..k).rev() {
        if dead[i] {
            continue;
        }
        let mut s = z[i];
        for p in i + 1..k {
            s -= l[p][i] * d[p];
        }
        d[i] = s / l[i][i];
    }
    d
}

fn output(d: &[f64], mask: u32) -> f64 {
    let mut y = 0.0;
    let mut m = mask;
    while m != 0 {
        y += d[m.trailing_zeros() as usize];
        m &= m - 1;
    }
    y
}

struct Workspace {
    runs: Vec<Run>,
    stack: Vec<(usize, u32, usize, u32)>,
    leaves: Vec<(usize, usize, f64)>,
    probes: Vec<(usize, u32)>,
}

/// Loss on the grid with least-squares d, and its gradient with respect to T and h.
fn evaluate(
    params: &mut FsParams,
    grid: &Grid,
    ws: &mut Workspace,
    grad_t: &mut [f64],
    grad_h: &mut [f64],
) -> f64 {
    let k = params.k();
    runs(params, grid, &mut ws.runs, &mut ws.stack, &mut ws.leaves, &mut ws.probes);
    params.d = solve_d(&ws.runs, grid, k);
    let n = grid.x.len();
    let mut loss = 0.0;
    grad_t.fill(0.0);
    grad_h.fill(0.0);
    let scale = (n - 1) as f64 / (n as f64 * (grid.range.1 - grid.range.0));
    let mut prev: Option<(u32, f64)> = None;
    for run in &ws.runs {
        let y = output(&params.d, run.mask);
        let c = (run.end - run.start) as f64;
        let s1 = grid.s1[run.end] - grid.s1[run.start];
        let s2 = grid.s2[run.end] - grid.s2[run.start];
        loss += c * y * y - 2.0 * y * s1 + s2;
        if let Some((pm, py)) = prev {
            let t = (pm ^ run.mask).trailing_zeros() as usize;
            let prefix = pm & ((1u32 << t) - 1);
            let mut b = params.t[t];
            let mut m = prefix;
            while m != 0 {
                b += params.h[m.trailing_zeros() as usize];
                m &= m - 1;
            }
            let fb = grid.activation.apply(b);
            let g = ((py - fb).powi(2) - (y - fb).powi(2)) * scale;
            grad_t[t] += g;
            let mut m = prefix;
            while m != 0 {
                grad_h[m.trailing_zeros() as usize] += g;
                m &= m - 1;
            }
        }
        prev = Some((run.mask, y));
    }
    loss / n as f64
}

fn initial(k: usize, range: (f64, f64), jitter: f64, rng: &mut ChaCha8Rng) -> FsParams {
    let (lo, hi) = range;
    let a = hi - lo;
    let mut t = Vec::with_capacity(k);
    let mut h = Vec::with_capacity(k);
    for s in 0..k {
        let w = a * 0.5f64.powi(s as i32 + 1);
        let j1: f64 = 1.0 + jitter * (rng.r#gen::<f64>() * 2.0 - 1.0);
        let j2: f64 = 1.0 + jitter * (rng.r#gen::<f64>() * 2.0 - 1.0);
        t.push(lo + w * j1);
        h.push(if s + 1 < k { w * j2 } else { 0.0 });
    }
    FsParams {
        t,
        h,
        d: vec![0.0; k],
    }
}

fn adam(
    config: &FitConfig,
    grid: &Grid,
    p: &mut FsParams,
    iterations: usize,
    lr0: f64,
    ws: &mut Workspace,
) -> (FsParams, f64) {
    let k = config.k;
    let mut gt = vec![0.0; k];
    let mut gh = vec![0.0; k];
    let mut mt = vec![0.0; 2 * k];
    let mut vt = vec![0.0; 2 * k];
    let (b1, b2) = (0.9, 0.999);
    let mut best = (p.clone(), f64::INFINITY);
    let width = config.range.1 - config.range.0;
    for it in 0..iterations {
        let loss = evaluate(p, grid, ws, &mut gt, &mut gh);
        if loss < best.1 {
            best = (p.clone(), loss);
        }
        let frac = it as f64 / iterations as f64;
        let lr = lr0 * width * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos()) + 1e-5 * width;
        let tstep = it as i32 + 1;
        for i in 0..2 * k - 1 {
            let g = if i < k { gt[i] } else { gh[i - k] };
            mt[i] = b1 * mt[i] + (1.0 - b1) * g;
            vt[i] = b2 * vt[i] + (1.0 - b2) * g * g;
            let mh = mt[i] / (1.0 - b1.powi(tstep));
            let vh = vt[i] / (1.0 - b2.powi(tstep));
            let sc = if config.scaled {
                (p.h[i % k].abs() + 0.01 * width) / width * 4.0
            } else {
                1.0
            };
            let step = sc * lr * mh / (vh.sqrt() + 1e-30);
            if i < k {
                p.t[i] -= step;
            } else {
                p.h[i - k] -= step;
            }
        }
    }
    best
}

/// Number of run boundaries each step makes (0: the step splits nothing).
fn split_steps(p: &FsParams, grid: &Grid, ws: &mut Workspace) -> Vec<usize> {
    runs(p, grid, &mut ws.runs, &mut ws.stack, &mut ws.leaves, &mut ws.probes);
    let mut n = vec![0; p.k()];
    for w in ws.runs.windows(2) {
        n[(w[0].mask ^ w[1].mask).trailing_zeros() as usize] += 1;
    }
    n
}

/// Moves each step that splits nothing to a threshold inside a high-error run.
fn revive(
    p: &mut FsParams,
    grid: &Grid,
    splits: &[usize],
    ws: &mut Workspace,
    rng: &mut ChaCha8Rng,
) {
    let mut p2 = p.clone();
    let k = p.k();
    // current outputs: d from least squares
    runs(p, grid, &mut ws.runs, &mut ws.stack, &mut ws.leaves, &mut ws.probes);
    p2.d = solve_d(&ws.runs, grid, k);
    let errs: Vec<f64> = ws
        .runs
        .iter()
        .map(|r| {
            let y = output(&p2.d, r.mask);
            let c = (r.end - r.start) as f64;
            c * y * y - 2.0 * y * (grid.s1[r.end] - grid.s1[r.start])
                + (grid.s2[r.end] - grid.s2[r.start])
        })
        .collect();
    let total: f64 = errs.iter().sum();
    for t in 0..k {
        if splits[t] != 0 {
            continue;
        }
        let mut u = rng.r#gen::<f64>() * total;
        let mut j = 0;
        while j + 1 < errs.len() && u > errs[j] {
            u -= errs[j];
            j += 1;
        }
        let r = ws.runs[j];
        if r.end - r.start < 2 {
            continue;
        }
        let mut hsum = 0.0;
        let mut m = r.mask & ((1u32 << t) - 1);
        while m != 0 {
            hsum += p.h[m.trailing_zeros() as usize];
            m &= m - 1;
        }
        let x0 = grid.x[r.start];
        let x1 = grid.x[r.end - 1];
        p.t[t] = x0 + (x1 - x0) * rng.r#gen::<f64>() - hsum;
        if t + 1 < k {
            p.h[t] = (x1 - x0) * (rng.r#gen::<f64>() * 2.0 - 1.0);
        }
    }
}

fn optimise(config: &FitConfig, grid: &Grid, rng: &mut ChaCha8Rng) -> (FsParams, f64) {
    let k = config.k;
    let width = config.range.1 - config.range.0;
    let mut ws = Workspace {
        runs: Vec::new(),
        stack: Vec::new(),
        leaves: Vec::new(),
        probes: Vec::new(),
    };
    let mut p = initial(k, config.range, config.jitter, rng);
    let first = config.first.min(config.iterations);
    let mut best = adam(config, grid, &mut p, first, config.lr, &mut ws);
    let rest = config.local;
    let kicks = (config.iterations - first) / rest.max(1);
    for _ in 0..kicks {
        let mut c = best.0.clone();
        let u: f64 = rng.r#gen();
        let dead = split_steps(&c, grid, &mut ws);
        if u < config.revive && dead.iter().any(|&n| n == 0) {
            revive(&mut c, grid, &dead, &mut ws, rng);
        } else if u < 0.5 {
            let s = rng.gen_range(0..k);
            c.t[s] = config.range.0 + width * rng.r#gen::<f64>();
            if s + 1 < k {
                c.h[s] = width * 0.5 * (rng.r#gen::<f64>() * 2.0 - 1.0);
            }
        } else {
            let sig = config.kick * rng.r#gen::<f64>();
            for s in 0..k {
                let sc = c.h[s].abs() + 0.01 * width;
                c.t[s] += sig * sc * (rng.r#gen::<f64>() * 2.0 - 1.0);
                if s + 1 < k {
                    c.h[s] += sig * sc * (rng.r#gen::<f64>() * 2.0 - 1.0);
                }
            }
        }
        let cand = adam(config, grid, &mut c, rest, config.lr * config.lr_local, &mut ws);
        if cand.1 < best.1 {
            best = cand;
        }
    }
    best
}

pub fn fit(config: &FitConfig, progress: &mut dyn FnMut(usize, usize, f64)) -> Result<FitReport> {
    config.validate()?;
    let grid = Grid::new(config.activation, config.range, EVAL_POINTS);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut best: Option<(f64, usize, FsParams)> = None;
    let mut done = 0;
    std::thread::scope(|scope| {
        for _ in 0..config.threads.max(1) {
            let tx = tx.clone();
            let (next, grid) = (&next, &grid);
            scope.spawn(move || {
                loop {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    if r >= config.restarts {
                        break;
                    }
                    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
                    rng.set_stream(r as u64);
                    let (p, _) = optimise(config, grid, &mut rng);
                    let q = quality(&p, config.activation, config.range, EVAL_POINTS);
                    if std::env::var("FITDBG").is_ok() {
                        eprintln!("restart {r} mse {:.3e} max {:.3}", q.mse, q.max_abs_error);
                    }
                    if tx.send((q.mse, r, p)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for (mse, r, p) in rx {
            done += 1;
            if best.as_ref().is_none_or(|b| (mse, r) < (b.0, b.1)) {
                best = Some((mse, r, p));
            }
            progress(done, config.restarts, best.as_ref().unwrap().0);
        }
    });
    let (_, _, params) = best.unwrap();
    let quality = quality(&params, config.activation, config.range, EVAL_POINTS);
    Ok(FitReport {
        params,
        quality,
        restarts_done: done,
    })
}
