//! The FS-neuron parameter fitter: T, h, d of a K-step neuron (see [`crate::neuron`]) that
//! approximate an activation on an input range, by mean squared error on a uniform grid of
//! [`EVAL_POINTS`] inputs (the grid the published sets were fitted and measured on).
//!
//! Method:
//! - **Runs of equal spike masks.** For fixed T and h the inputs that produce one spike mask form
//!   an interval (each spike decision compares a monotone function of x with a threshold), so the
//!   output is piecewise constant. The grid is split into runs of equal masks by calling
//!   [`FsParams::fire`] on both sides of every boundary the threshold tree predicts, and bisecting
//!   wherever the prediction was wrong. The fitter has no forward pass of its own: its spike masks
//!   and outputs are those of inference by construction, at a few `fire` calls per run.
//! - **d by least squares.** With the masks fixed, y is linear in d: the best d solves the K x K
//!   normal equations, accumulated per run from prefix sums of f and f².
//! - **Exact gradients for T and h.** A boundary made by step t lies at
//!   `b = T(t) + sum of h(s) over the earlier spikes s`; moving it by `db` changes the loss by
//!   `((y_left - f(b))² - (y_right - f(b))²) db / (hi - lo)`. With d at its optimum this is the
//!   gradient of the loss minimised over d (envelope theorem), so neither a surrogate gradient
//!   nor the reference's v penalty is needed. T and h follow Adam, with step sizes scaled per
//!   time step by |h(t)|.
//! - **Search.** A restart starts from a jittered K-bit converter (`T = h = alpha 2^-t`, from
//!   ReLU's bend at 0, or for SiLU and sigmoid from a random point of the lower half of the range
//!   up to its top), descends, then repeats: kick (move a step that splits nothing into a
//!   high-error run, redraw one step, or add noise), descend briefly, keep if better. Restarts run on all cores with their own seeded ChaCha8 streams, so the result does
//!   not depend on the number of threads; each restart's result is scored with [`quality`] (that
//!   is, `FsParams::fire` on every grid point) and the best one is kept.

use crate::activation::Activation;
use crate::neuron::{FsParams, MAX_K};
use anyhow::{Result, ensure};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Grid points the fit is optimised and reported on.
pub const EVAL_POINTS: usize = 100_000;

/// Adam iterations of the first descent of a restart, and of each descent after a kick.
const FIRST_DESCENT: usize = 1000;
const KICK_DESCENT: usize = 250;
/// Adam step, relative to the step scale `|h(t)| + 1% of the range`, at the start of the cosine
/// schedule of the first descent and of a descent after a kick (which may leave the basin).
const RATE_FIRST: f64 = 0.04;
const RATE_KICK: f64 = 0.08;
/// Floor of the relative Adam step at the end of a schedule.
const RATE_FLOOR: f64 = 4e-5;
/// Relative jitter of the initial converter's T and h.
const JITTER: f64 = 0.1;
/// A smooth activation's initial converter covers `[lo + u SHIFT (hi - lo), hi]`, u uniform in
/// [0, 1): restarts then differ in how they share the codes between the bend and the rest, and
/// reach lower errors than from `lo` (measured for SiLU and sigmoid).
const SHIFT: f64 = 0.5;

#[derive(Clone, Debug)]
pub struct FitConfig {
    pub activation: Activation,
    pub k: usize,
    pub range: (f64, f64),
    /// Independent restarts; the best is kept.
    pub restarts: usize,
    /// Adam iterations per restart, over its first descent and the descents after kicks.
    pub iterations: usize,
    pub seed: u64,
    /// Worker threads; 0 uses every core. The result does not depend on it.
    pub threads: usize,
}

impl FitConfig {
    /// Defaults sized for SiLU K = 16 to take about a minute on two cores (time grows with K,
    /// with the number of runs of equal spike masks).
    pub fn new(activation: Activation, k: usize, range: (f64, f64)) -> Self {
        FitConfig {
            activation,
            k,
            range,
            restarts: 16,
            iterations: 80_000,
            seed: 1,
            threads: 0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        ensure!(
            (1..=MAX_K).contains(&self.k),
            "K = {} time steps is outside 1..={MAX_K}",
            self.k
        );
        let (lo, hi) = self.range;
        ensure!(
            lo.is_finite() && hi.is_finite() && lo < hi,
            "range [{lo}, {hi}] must be finite with lo < hi"
        );
        ensure!(
            self.activation != Activation::Identity,
            "activation identity has no FS-neuron to fit (relu, silu or sigmoid)"
        );
        ensure!(self.restarts >= 1, "restarts must be at least 1");
        ensure!(self.iterations >= 1, "iterations must be at least 1");
        Ok(())
    }
}

/// Approximation error of an FS-neuron on a uniform input grid.
#[derive(Clone, Debug, Serialize)]
pub struct Quality {
    pub mse: f64,
    pub max_abs_error: f64,
    pub mean_abs_error: f64,
    pub mean_spikes: f64,
    pub points: usize,
}

/// Input `i` of a uniform grid of `points` over `range`, both ends included.
fn grid_point(range: (f64, f64), points: usize, i: usize) -> f64 {
    if points < 2 {
        return range.0;
    }
    range.0 + (range.1 - range.0) * i as f64 / (points - 1) as f64
}

/// Quality of params on a uniform grid of `points` (at least 1) over `range`, computed with
/// [`FsParams::fire`].
pub fn quality(
    params: &FsParams,
    activation: Activation,
    range: (f64, f64),
    points: usize,
) -> Quality {
    assert!(points > 0, "quality needs at least one grid point");
    let (mut se, mut sa, mut max, mut spikes) = (0.0, 0.0, 0.0f64, 0u64);
    for i in 0..points {
        let x = grid_point(range, points, i);
        let (y, mask) = params.fire(x);
        let e = (y - activation.apply(x)).abs();
        se += e * e;
        sa += e;
        max = max.max(e);
        spikes += u64::from(mask.count_ones());
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
    /// On [`EVAL_POINTS`] grid points.
    pub quality: Quality,
    pub restarts_done: usize,
}

/// Fits an FS-neuron to `config.activation` on `config.range`.
///
/// `progress(done_restarts, total_restarts, best_mse_so_far)` is called after each restart.
pub fn fit(config: &FitConfig, progress: &mut dyn FnMut(usize, usize, f64)) -> Result<FitReport> {
    config.validate()?;
    let grid = Grid::new(config.activation, config.range, EVAL_POINTS);
    let threads = match config.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(config.restarts);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let mut best: Option<(Quality, usize, FsParams)> = None;
    let mut done = 0;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (tx, next, grid) = (tx.clone(), &next, &grid);
            scope.spawn(move || {
                loop {
                    let r = next.fetch_add(1, Ordering::Relaxed);
                    if r >= config.restarts {
                        break;
                    }
                    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
                    rng.set_stream(r as u64);
                    let params = Search::new(grid, config.k).restart(config.iterations, &mut rng);
                    let q = quality(&params, config.activation, config.range, EVAL_POINTS);
                    if tx.send((q, r, params)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Progress is reported from this thread; ties go to the lower restart so that the
        // result does not depend on which thread finished first.
        for (q, r, params) in rx {
            done += 1;
            let better = best
                .as_ref()
                .is_none_or(|(bq, br, _)| q.mse.total_cmp(&bq.mse).then(r.cmp(br)).is_lt());
            if better {
                best = Some((q, r, params));
            }
            let best_mse = best.as_ref().map_or(f64::NAN, |b| b.0.mse);
            progress(done, config.restarts, best_mse);
        }
    });
    let (quality, _, params) = best.expect("at least one restart ran");
    params.validate()?;
    Ok(FitReport {
        params,
        quality,
        restarts_done: done,
    })
}

/// The grid with prefix sums of the target, so that the squared error of a run costs O(1).
struct Grid {
    activation: Activation,
    range: (f64, f64),
    x: Vec<f64>,
    /// `s1[i]` and `s2[i]`: sums of `f(x_j)` and `f(x_j)²` over `j < i`.
    s1: Vec<f64>,
    s2: Vec<f64>,
}

impl Grid {
    fn new(activation: Activation, range: (f64, f64), points: usize) -> Self {
        let x: Vec<f64> = (0..points).map(|i| grid_point(range, points, i)).collect();
        let (mut s1, mut s2) = (vec![0.0], vec![0.0]);
        for &xi in &x {
            let f = activation.apply(xi);
            s1.push(s1.last().unwrap() + f);
            s2.push(s2.last().unwrap() + f * f);
        }
        Grid {
            activation,
            range,
            x,
            s1,
            s2,
        }
    }

    fn len(&self) -> usize {
        self.x.len()
    }

    /// Sum of `(y - f)²` over the grid points of `run`.
    fn squared_error(&self, run: &Run, y: f64) -> f64 {
        let n = (run.end - run.start) as f64;
        let s1 = self.s1[run.end] - self.s1[run.start];
        let s2 = self.s2[run.end] - self.s2[run.start];
        n * y * y - 2.0 * y * s1 + s2
    }
}

/// Grid points `start..end` that share one spike mask.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Run {
    start: usize,
    end: usize,
    mask: u32,
}

/// Splits the grid into runs; keeps its buffers between calls.
#[derive(Default)]
struct Splitter {
    runs: Vec<Run>,
    /// Threshold-tree leaves: grid index range and the sum of h over the path's spikes.
    leaves: Vec<(usize, usize, f64)>,
    next: Vec<(usize, usize, f64)>,
    probes: Vec<(usize, u32)>,
    stack: Vec<(usize, u32, usize, u32)>,
}

impl Splitter {
    /// Fills `self.runs` with the runs of `p` on `grid`, in order.
    ///
    /// Every mask is decided by `p.fire`: the tree only suggests where to look. Because a mask's
    /// inputs form an interval, equal masks at both ends of an index range prove the whole range
    /// has it; otherwise the range is bisected.
    fn split(&mut self, p: &FsParams, grid: &Grid) {
        let n = grid.len();
        let mask = |i: usize| p.fire(grid.x[i]).1;
        // Predicted boundaries: step t splits a leaf at x = T(t) + (sum of the path's h).
        let inv = (n - 1) as f64 / (grid.range.1 - grid.range.0);
        self.leaves.clear();
        self.leaves.push((0, n, 0.0));
        for t in 0..p.k() {
            self.next.clear();
            for &(a, b, hs) in &self.leaves {
                let c = ((p.t[t] + hs - grid.range.0) * inv).ceil();
                if c.is_nan() || c >= b as f64 {
                    self.next.push((a, b, hs));
                } else if c <= a as f64 {
                    self.next.push((a, b, hs + p.h[t]));
                } else {
                    let c = c as usize;
                    self.next.push((a, c, hs));
                    self.next.push((c, b, hs + p.h[t]));
                }
            }
            std::mem::swap(&mut self.leaves, &mut self.next);
        }
        self.probes.clear();
        for &(a, b, _) in &self.leaves {
            self.probes.push((a, mask(a)));
            if b - 1 > a {
                self.probes.push((b - 1, mask(b - 1)));
            }
        }
        self.runs.clear();
        for w in 1..self.probes.len() {
            let ((a, ma), (b, mb)) = (self.probes[w - 1], self.probes[w]);
            self.stack.push((a, ma, b, mb));
            while let Some((a, ma, b, mb)) = self.stack.pop() {
                if ma == mb || b == a + 1 {
                    push_run(&mut self.runs, a, b, ma);
                } else {
                    let m = (a + b) / 2;
                    let mm = mask(m);
                    self.stack.push((m, mm, b, mb));
                    self.stack.push((a, ma, m, mm));
                }
            }
        }
        let &(last, m) = self.probes.last().expect("the grid is not empty");
        push_run(&mut self.runs, last, n, m);
    }
}

fn push_run(runs: &mut Vec<Run>, start: usize, end: usize, mask: u32) {
    match runs.last_mut() {
        Some(last) if last.mask == mask => last.end = end,
        _ => runs.push(Run { start, end, mask }),
    }
}

/// The d minimising the squared error for the masks of `runs`. A step whose spikes are all
/// explained by earlier steps (or that never fires) gets d = 0.
fn solve_d(runs: &[Run], grid: &Grid, k: usize) -> Vec<f64> {
    // Normal equations G d = r, upper triangle of G.
    let mut g = [[0.0f64; MAX_K]; MAX_K];
    let mut r = [0.0f64; MAX_K];
    for run in runs {
        let n = (run.end - run.start) as f64;
        let s = grid.s1[run.end] - grid.s1[run.start];
        let mut ma = run.mask;
        while ma != 0 {
            let a = ma.trailing_zeros() as usize;
            r[a] += s;
            let mut mb = ma;
            while mb != 0 {
                g[a][mb.trailing_zeros() as usize] += n;
                mb &= mb - 1;
            }
            ma &= ma - 1;
        }
    }
    // Cholesky G = L L^T, skipping columns whose pivot vanishes (dependent or empty).
    let mut l = [[0.0f64; MAX_K]; MAX_K];
    let mut live = [false; MAX_K];
    for j in 0..k {
        let pivot = g[j][j] - (0..j).map(|p| l[j][p] * l[j][p]).sum::<f64>();
        if pivot <= 1e-9 * (g[j][j] + 1.0) {
            continue;
        }
        live[j] = true;
        l[j][j] = pivot.sqrt();
        for i in j + 1..k {
            let s = g[j][i] - (0..j).map(|p| l[i][p] * l[j][p]).sum::<f64>();
            l[i][j] = s / l[j][j];
        }
    }
    let mut z = [0.0f64; MAX_K];
    for i in (0..k).filter(|&i| live[i]) {
        z[i] = (r[i] - (0..i).map(|p| l[i][p] * z[p]).sum::<f64>()) / l[i][i];
    }
    let mut d = vec![0.0; k];
    for i in (0..k).rev().filter(|&i| live[i]) {
        d[i] = (z[i] - (i + 1..k).map(|p| l[p][i] * d[p]).sum::<f64>()) / l[i][i];
    }
    d
}

/// Sets `p.d` to its least-squares optimum and returns the grid MSE with the gradient with
/// respect to T and h (`grad_h[k - 1]` stays 0: the last reset is never used).
fn evaluate(
    p: &mut FsParams,
    grid: &Grid,
    splitter: &mut Splitter,
    grad_t: &mut [f64],
    grad_h: &mut [f64],
) -> f64 {
    splitter.split(p, grid);
    let runs = &splitter.runs;
    p.d = solve_d(runs, grid, p.k());
    grad_t.fill(0.0);
    grad_h.fill(0.0);
    let n = grid.len();
    // Grid points per unit of x, over the points' count: turns a boundary shift into a loss change.
    let density = (n - 1) as f64 / (n as f64 * (grid.range.1 - grid.range.0));
    let mut sum = 0.0;
    let mut left: Option<(u32, f64)> = None;
    for run in runs {
        let y = p.fire(grid.x[run.start]).0;
        sum += grid.squared_error(run, y);
        if let Some((left_mask, left_y)) = left {
            // The paths agree before step t, the first to differ; the right one spikes there.
            let t = (left_mask ^ run.mask).trailing_zeros() as usize;
            debug_assert!(run.mask >> t & 1 == 1);
            let earlier = left_mask & ((1u32 << t) - 1);
            let b = p.t[t] + bits(earlier).map(|s| p.h[s]).sum::<f64>();
            let fb = grid.activation.apply(b);
            let g = ((left_y - fb).powi(2) - (y - fb).powi(2)) * density;
            grad_t[t] += g;
            for s in bits(earlier) {
                grad_h[s] += g;
            }
        }
        left = Some((run.mask, y));
    }
    sum / n as f64
}

/// The indices of the set bits of `mask`, ascending.
fn bits(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let b = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            b
        })
    })
}

/// One restart's search state.
struct Search<'a> {
    grid: &'a Grid,
    k: usize,
    width: f64,
    splitter: Splitter,
    grad_t: Vec<f64>,
    grad_h: Vec<f64>,
}

impl<'a> Search<'a> {
    fn new(grid: &'a Grid, k: usize) -> Self {
        Search {
            grid,
            k,
            width: grid.range.1 - grid.range.0,
            splitter: Splitter::default(),
            grad_t: vec![0.0; k],
            grad_h: vec![0.0; k],
        }
    }

    /// First descent from a random converter, then kicks and short descents; the best found.
    fn restart(&mut self, iterations: usize, rng: &mut ChaCha8Rng) -> FsParams {
        let first = iterations.min(FIRST_DESCENT);
        let start = self.initial(rng);
        let (mut best, mut best_loss) = self.descend(start, first, RATE_FIRST);
        let mut left = iterations - first;
        while left > 0 {
            let n = left.min(KICK_DESCENT);
            left -= n;
            let kicked = self.kick(&best, rng);
            let (p, loss) = self.descend(kicked, n, RATE_KICK);
            if loss < best_loss {
                (best, best_loss) = (p, loss);
            }
        }
        best
    }

    /// A K-bit converter of `x - lo'` over `[lo', hi]`, T and h jittered. For ReLU `lo'` is its
    /// bend at 0 (the closed form), else a random point of the lower part of the range.
    fn initial(&self, rng: &mut ChaCha8Rng) -> FsParams {
        let (lo, hi) = self.grid.range;
        let lo = match self.grid.activation {
            Activation::Relu if lo < 0.0 && hi > 0.0 => 0.0,
            Activation::Relu => lo,
            _ => lo + SHIFT * self.width * rng.r#gen::<f64>(),
        };
        let mut jitter = || 1.0 + JITTER * rng.gen_range(-1.0..1.0);
        let mut p = FsParams {
            t: Vec::with_capacity(self.k),
            h: Vec::with_capacity(self.k),
            d: vec![0.0; self.k],
        };
        for s in 0..self.k {
            let w = (hi - lo) * 0.5f64.powi(s as i32 + 1);
            p.t.push(lo + w * jitter());
            p.h.push(if s + 1 < self.k { w * jitter() } else { 0.0 });
        }
        p
    }

    /// Step scale of a time step with reset `h`: its reset, with a floor for tiny ones.
    fn scale(&self, h: f64) -> f64 {
        h.abs() + 0.01 * self.width
    }

    /// Adam on T and h from `p` (d re-solved at every step), cosine schedule from `rate`;
    /// returns the best parameters seen and their MSE.
    fn descend(&mut self, mut p: FsParams, iterations: usize, rate: f64) -> (FsParams, f64) {
        let (b1, b2) = (0.9f64, 0.999f64);
        let n = 2 * self.k - 1;
        let mut m = vec![0.0; n];
        let mut v = vec![0.0; n];
        let mut best = (p.clone(), f64::INFINITY);
        for it in 0..iterations {
            let loss = evaluate(
                &mut p,
                self.grid,
                &mut self.splitter,
                &mut self.grad_t,
                &mut self.grad_h,
            );
            if loss < best.1 {
                best = (p.clone(), loss);
            }
            let progress = it as f64 / iterations as f64;
            let r = rate * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()) + RATE_FLOOR;
            let (c1, c2) = (1.0 - b1.powi(it as i32 + 1), 1.0 - b2.powi(it as i32 + 1));
            for i in 0..n {
                let (s, is_t) = if i < self.k {
                    (i, true)
                } else {
                    (i - self.k, false)
                };
                let g = if is_t { self.grad_t[s] } else { self.grad_h[s] };
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                let step = r * self.scale(p.h[s]) * (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-300);
                if is_t {
                    p.t[s] -= step;
                } else {
                    p.h[s] -= step;
                }
            }
            if !p.t.iter().chain(&p.h).all(|x| x.is_finite()) {
                break;
            }
        }
        best
    }

    /// A perturbed copy of `p`: half the time a step that splits nothing is moved into a run
    /// with a large error (or, with none idle, one step is redrawn), else every step gets noise.
    fn kick(&mut self, p: &FsParams, rng: &mut ChaCha8Rng) -> FsParams {
        let mut q = p.clone();
        let (lo, _) = self.grid.range;
        if rng.r#gen::<f64>() < 0.5 {
            if !self.revive(&mut q, rng) {
                let s = rng.gen_range(0..self.k);
                q.t[s] = lo + self.width * rng.r#gen::<f64>();
                if s + 1 < self.k {
                    q.h[s] = 0.5 * self.width * rng.gen_range(-1.0..1.0);
                }
            }
        } else {
            let sigma: f64 = rng.r#gen();
            for s in 0..self.k {
                let scale = sigma * self.scale(q.h[s]);
                q.t[s] += scale * rng.gen_range(-1.0..1.0);
                if s + 1 < self.k {
                    q.h[s] += scale * rng.gen_range(-1.0..1.0);
                }
            }
        }
        q
    }

    /// Gives each step that makes no boundary a threshold inside a run drawn with probability
    /// proportional to its squared error. `p.d` must be optimal for `p`. False if none was idle.
    fn revive(&mut self, p: &mut FsParams, rng: &mut ChaCha8Rng) -> bool {
        self.splitter.split(p, self.grid);
        let runs = &self.splitter.runs;
        let mut idle = vec![true; self.k];
        for w in runs.windows(2) {
            idle[(w[0].mask ^ w[1].mask).trailing_zeros() as usize] = false;
        }
        if !idle.contains(&true) {
            return false;
        }
        // Runs of one point cannot be split.
        let errors: Vec<f64> = runs
            .iter()
            .map(|r| match r.end - r.start {
                1 => 0.0,
                _ => self
                    .grid
                    .squared_error(r, p.fire(self.grid.x[r.start]).0)
                    .max(0.0),
            })
            .collect();
        let total: f64 = errors.iter().sum();
        for t in (0..self.k).filter(|&t| idle[t]) {
            let mut u = total * rng.r#gen::<f64>();
            let j = errors
                .iter()
                .position(|&e| {
                    u -= e;
                    u < 0.0
                })
                .unwrap_or(runs.len() - 1);
            let run = runs[j];
            let (x0, x1) = (self.grid.x[run.start], self.grid.x[run.end - 1]);
            let earlier = run.mask & ((1u32 << t) - 1);
            let reset: f64 = bits(earlier).map(|s| p.h[s]).sum();
            p.t[t] = x0 + (x1 - x0) * rng.r#gen::<f64>() - reset;
            if t + 1 < self.k {
                p.h[t] = (x1 - x0) * rng.gen_range(-1.0..1.0);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{published_sigmoid_k12, published_silu_k16};
    use std::time::Instant;

    fn random_params(k: usize, rng: &mut ChaCha8Rng) -> FsParams {
        let mut draw = |a: f64| (0..k).map(|_| rng.gen_range(-a..a)).collect::<Vec<f64>>();
        FsParams {
            t: draw(4.0),
            h: draw(5.0),
            d: draw(2.0),
        }
    }

    /// The runs are exactly the masks `fire` gives on every grid point, including for
    /// parameters with negative resets (where v grows), repeated thresholds and thresholds on
    /// grid points (the grid holds every multiple of 1/1000).
    #[test]
    fn runs_are_the_masks_of_fire_on_every_point() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let grid = Grid::new(Activation::Silu, (-8.0, 12.0), 20_001);
        let mut splitter = Splitter::default();
        let repeated = FsParams {
            t: vec![1.0, 1.0, 1.0, -2.0, 1.0],
            h: vec![0.0, 0.0, -3.0, 0.5, 0.0],
            d: vec![1.0; 5],
        };
        let mut sets = vec![
            published_silu_k16(),
            published_sigmoid_k12(),
            FsParams::relu(12, 8.0),
            repeated,
        ];
        sets.extend((0..40).map(|i| random_params(1 + i % MAX_K, &mut rng)));
        for p in sets {
            splitter.split(&p, &grid);
            let mut expect = Vec::new();
            for (i, &x) in grid.x.iter().enumerate() {
                push_run(&mut expect, i, i + 1, p.fire(x).1);
            }
            assert_eq!(splitter.runs, expect, "{p:?}");
        }
    }

    /// The boundary gradient equals finite differences of the loss minimised over d, for T and
    /// h of every step: this also checks that h(t) only moves the thresholds of later steps.
    #[test]
    fn gradient_matches_finite_differences() {
        let grid = Grid::new(Activation::Silu, (-8.0, 12.0), 2_000_000);
        let mut splitter = Splitter::default();
        let k = 16;
        let p = published_silu_k16();
        let (mut gt, mut gh) = (vec![0.0; k], vec![0.0; k]);
        evaluate(&mut p.clone(), &grid, &mut splitter, &mut gt, &mut gh);
        let mut loss = |mut q: FsParams| {
            evaluate(&mut q, &grid, &mut splitter, &mut [0.0; 16], &mut [0.0; 16])
        };
        let eps = 2e-3;
        let (mut err, mut norm) = (0.0, 0.0);
        for (i, analytic) in gt.iter().chain(&gh[..k - 1]).enumerate() {
            let moved = |e: f64| {
                let mut q = p.clone();
                if i < k {
                    q.t[i] += e;
                } else {
                    q.h[i - k] += e;
                }
                q
            };
            let numeric = (loss(moved(eps)) - loss(moved(-eps))) / (2.0 * eps);
            err += (numeric - analytic).powi(2);
            norm += analytic.powi(2);
        }
        assert!(
            norm > 1e-8,
            "the published set is a stationary point: {norm}"
        );
        assert!(
            err.sqrt() < 0.01 * norm.sqrt(),
            "error {} of {}",
            err.sqrt(),
            norm.sqrt()
        );
    }

    /// The metric reproduces the notes' measurements of the published sets.
    #[test]
    fn quality_of_published_sets() {
        let q = quality(
            &published_silu_k16(),
            Activation::Silu,
            (-8.0, 12.0),
            EVAL_POINTS,
        );
        assert!((q.mse - 3.45e-3).abs() < 0.01e-3, "{q:?}");
        assert!((q.max_abs_error - 0.295).abs() < 0.001, "{q:?}");
        assert!((q.mean_spikes - 4.17).abs() < 0.01, "{q:?}");
        let q = quality(
            &published_sigmoid_k12(),
            Activation::Sigmoid,
            (-10.0, 10.0),
            EVAL_POINTS,
        );
        assert!((q.mse - 1.44e-4).abs() < 0.01e-4, "{q:?}");
        assert!((q.max_abs_error - 0.058).abs() < 0.001, "{q:?}");
        assert!((q.mean_spikes - 2.74).abs() < 0.01, "{q:?}");
        assert_eq!(q.points, EVAL_POINTS);
    }

    /// A small fit (under a second) of sigmoid K = 6 on [-6, 6] improves far over the converter
    /// it starts from, and reports its progress.
    #[test]
    fn quick_fit_improves_over_its_start() {
        let mut config = FitConfig::new(Activation::Sigmoid, 6, (-6.0, 6.0));
        config.restarts = 2;
        config.iterations = 5000;
        let grid = Grid::new(config.activation, config.range, EVAL_POINTS);
        let mut search = Search::new(&grid, config.k);
        // Restart 0 draws from stream 0 of the seed, as here.
        let mut start = search.initial(&mut ChaCha8Rng::seed_from_u64(config.seed));
        let (mut gt, mut gh) = (vec![0.0; 6], vec![0.0; 6]);
        let start_mse = evaluate(&mut start, &grid, &mut search.splitter, &mut gt, &mut gh);
        let mut calls = Vec::new();
        let report = fit(&config, &mut |done, total, best| {
            calls.push((done, total, best))
        })
        .unwrap();
        let q = &report.quality;
        assert!(q.mse < 4e-4, "{q:?}");
        assert!(q.mse < start_mse / 20.0, "{} from {start_mse}", q.mse);
        assert!(q.max_abs_error < 0.06, "{q:?}");
        assert_eq!(report.restarts_done, 2);
        assert_eq!(
            calls.iter().map(|c| (c.0, c.1)).collect::<Vec<_>>(),
            [(1, 2), (2, 2)]
        );
        assert!(calls[1].2 <= calls[0].2 && calls[1].2 == q.mse, "{calls:?}");
    }

    /// ReLU: the fit finds the rounding converter, MSE about q²/12, where the closed form
    /// (T = h = d = 2^-t) truncates, q²/3.
    #[test]
    fn relu_fit_finds_the_rounding_converter() {
        let mut config = FitConfig::new(Activation::Relu, 6, (0.0, 1.0));
        config.restarts = 2;
        config.iterations = 2000;
        let report = fit(&config, &mut |_, _, _| {}).unwrap();
        let q = 1.0 / 64.0;
        let closed = quality(
            &FsParams::relu(6, 1.0),
            Activation::Relu,
            (0.0, 1.0),
            EVAL_POINTS,
        );
        assert!(
            (closed.mse - q * q / 3.0).abs() < 0.02 * q * q,
            "{closed:?}"
        );
        assert!(
            report.quality.mse < 1.05 * q * q / 12.0,
            "{:?}",
            report.quality
        );
    }

    /// Same seed, same parameters, whatever the number of threads; another seed differs.
    #[test]
    fn fit_is_reproducible_and_independent_of_threads() {
        let mut config = FitConfig::new(Activation::Silu, 5, (-4.0, 4.0));
        config.restarts = 3;
        config.iterations = 600;
        let run = |threads, seed| {
            let mut c = config.clone();
            (c.threads, c.seed) = (threads, seed);
            fit(&c, &mut |_, _, _| {}).unwrap().params
        };
        let one = run(1, 7);
        assert_eq!(one, run(2, 7));
        assert_eq!(one, run(3, 7));
        assert_ne!(one, run(2, 8));
    }

    #[test]
    fn invalid_configs_name_the_problem() {
        let good = FitConfig::new(Activation::Silu, 16, (-8.0, 12.0));
        good.validate().unwrap();
        type Edit = fn(&mut FitConfig);
        let cases: [(Edit, &str); 8] = [
            (|c| c.k = 0, "K = 0"),
            (|c| c.k = MAX_K + 1, "K = 25"),
            (|c| c.range = (1.0, 1.0), "lo < hi"),
            (|c| c.range = (f64::NAN, 1.0), "finite"),
            (|c| c.range = (0.0, f64::INFINITY), "finite"),
            (|c| c.activation = Activation::Identity, "identity"),
            (|c| c.restarts = 0, "restarts"),
            (|c| c.iterations = 0, "iterations"),
        ];
        for (edit, expect) in cases {
            let mut c = good.clone();
            edit(&mut c);
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
            let e = fit(&c, &mut |_, _, _| {}).unwrap_err().to_string();
            assert!(e.contains(expect), "{e}");
        }
    }

    /// The default budget beats the published sets by a wide margin: the README's fitter table.
    /// Ignored by `cargo test` for its time (about 40 s on two cores); `.ci/run` runs it by
    /// name: `cargo test --release -p fs-model --lib -- --ignored default_fits`.
    #[test]
    #[ignore]
    fn default_fits_beat_the_published_sets() {
        for (activation, k, range, published) in [
            (Activation::Silu, 16, (-8.0, 12.0), 3.45e-3),
            (Activation::Sigmoid, 12, (-10.0, 10.0), 1.44e-4),
        ] {
            let start = Instant::now();
            let report = fit(&FitConfig::new(activation, k, range), &mut |_, _, _| {}).unwrap();
            let q = &report.quality;
            eprintln!(
                "{activation} K={k}: MSE {:.3e} (published {published:.2e}), max {:.4}, mean {:.4}, \
                 {:.2} spikes, {:.1} s",
                q.mse,
                q.max_abs_error,
                q.mean_abs_error,
                q.mean_spikes,
                start.elapsed().as_secs_f64()
            );
            assert!(q.mse <= published / 4.0, "{activation}: {q:?}");
        }
    }
}
