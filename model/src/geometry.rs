//! What a layer's neurons are connected to: dense layers, 2-D convolutions and pooling, the
//! shapes of their maps, and the one definition of which sender feeds which neuron with which
//! weight ([`fan_out`]), used by every engine of [`crate::infer`] and by the saturation bounds.
//!
//! Maps are flattened channel-major, PyTorch's NCHW order: neuron `(c, y, x)` of a
//! `channels x height x width` map has index `(c * height + y) * width + x`. A dense layer
//! after a convolution therefore sees the maps flattened in that order (PyTorch's
//! `nn.Flatten`).

use anyhow::{Result, bail, ensure};
use ndarray::Array2;
use serde::{Deserialize, Serialize};

/// The shape of a stage's neurons: `channels` maps of `height x width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

impl Shape {
    /// `n` neurons with no map structure (a dense layer's).
    pub fn flat(n: usize) -> Self {
        Shape {
            channels: n,
            height: 1,
            width: 1,
        }
    }

    pub fn size(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// The flat index of neuron `(c, y, x)`.
    #[inline]
    pub fn index(&self, c: usize, y: usize, x: usize) -> usize {
        (c * self.height + y) * self.width + x
    }
}

/// The order in which a layer's stage of `shape` sends one step's spikes on the bus:
/// position-major (every channel of position 0, then every channel of position 1, ...), the
/// order in which the convolution hardware fires a map whatever its lanes. `None` when that is
/// ascending index (flat stages, one-channel maps). The input encoder always sends ascending.
pub fn send_order(shape: Shape) -> Option<Vec<usize>> {
    let plane = shape.height * shape.width;
    if shape.channels == 1 || plane == 1 {
        return None;
    }
    Some(
        (0..plane)
            .flat_map(|pos| (0..shape.channels).map(move |c| c * plane + pos))
            .collect(),
    )
}

/// How a layer's neurons connect to its inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum LayerKind {
    /// Every neuron sees every input: weights `[outputs, inputs]`, one bias per neuron.
    Dense,
    /// A 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) with a square
    /// `kernel`, `stride` and zero `padding` on every side: weights `[out_channels,
    /// in_channels * kernel * kernel]` (PyTorch's `[out, in, kh, kw]` flattened), one bias per
    /// output channel.
    Conv2d {
        kernel: usize,
        stride: usize,
        padding: usize,
    },
}

/// How a hidden layer's outputs are pooled before the next layer sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    /// The largest value of each window. In the spike domain it is exact for codes in which
    /// every spike outweighs all later ones (ReLU's binary code): the pooled neuron sends the
    /// spike train of the window's largest value.
    Max,
    /// The mean of each window. Linear, so it is folded into the next layer: that layer takes
    /// the pooled layer's spikes themselves, each through the weight of its window, and the
    /// `1 / window^2` goes into its accumulator unit.
    Avg,
}

/// A pooling stage: square windows of `window` neurons every `stride` neurons, no padding
/// (PyTorch's `MaxPool2d` and `AvgPool2d` defaults: a window must fit the map).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub kind: PoolKind,
    pub window: usize,
    pub stride: usize,
}

impl Pool {
    /// The pooled shape of `input`.
    pub fn output(&self, input: Shape) -> Result<Shape> {
        ensure!(
            self.window >= 1 && self.stride >= 1,
            "pooling window {} and stride {} must be at least 1",
            self.window,
            self.stride
        );
        ensure!(
            self.window <= input.height && self.window <= input.width,
            "a {0}x{0} pooling window does not fit a {1}x{2} map",
            self.window,
            input.height,
            input.width
        );
        if self.kind == PoolKind::Avg && self.stride != self.window {
            bail!(
                "average pooling with stride {} and window {} overlaps (or skips) neurons; only \
                 stride = window can be folded into the next layer",
                self.stride,
                self.window
            );
        }
        Ok(Shape {
            channels: input.channels,
            height: (input.height - self.window) / self.stride + 1,
            width: (input.width - self.window) / self.stride + 1,
        })
    }

    /// The neurons of `input` (flat indices) in each window, windows in pooled-index order.
    pub fn windows(&self, input: Shape, output: Shape) -> Vec<Vec<usize>> {
        let mut windows = Vec::with_capacity(output.size());
        for c in 0..output.channels {
            for py in 0..output.height {
                for px in 0..output.width {
                    let mut members = Vec::with_capacity(self.window * self.window);
                    for dy in 0..self.window {
                        for dx in 0..self.window {
                            let (y, x) = (py * self.stride + dy, px * self.stride + dx);
                            members.push(input.index(c, y, x));
                        }
                    }
                    windows.push(members);
                }
            }
        }
        windows
    }
}

/// Where a layer sits: what it receives, its neurons, and what it sends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub kind: LayerKind,
    /// The values the layer computes on (the previous layer's, pooled).
    pub input: Shape,
    /// The layer's neurons.
    pub neurons: Shape,
    pub pool: Option<Pool>,
    /// What the next layer computes on: the neurons, pooled.
    pub output: Shape,
}

impl Geometry {
    /// The geometry of a layer of `kind` with `weight` (rows: neurons or output channels) on
    /// `input`, pooled by `pool`.
    pub fn new(
        kind: LayerKind,
        input: Shape,
        weight_dim: (usize, usize),
        pool: Option<Pool>,
    ) -> Result<Self> {
        let (rows, cols) = weight_dim;
        let neurons = match kind {
            LayerKind::Dense => {
                ensure!(
                    cols == input.size(),
                    "takes {cols} inputs but receives {}",
                    input.size()
                );
                Shape::flat(rows)
            }
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
            } => {
                ensure!(
                    kernel >= 1 && stride >= 1,
                    "kernel {kernel} and stride {stride} must be at least 1"
                );
                ensure!(
                    padding < kernel,
                    "padding {padding} must be smaller than the kernel {kernel}"
                );
                ensure!(
                    cols == input.channels * kernel * kernel,
                    "weights of {cols} columns for {} input channels and a {kernel}x{kernel} \
                     kernel (expected {})",
                    input.channels,
                    input.channels * kernel * kernel
                );
                let (h, w) = (input.height + 2 * padding, input.width + 2 * padding);
                ensure!(
                    kernel <= h && kernel <= w,
                    "a {kernel}x{kernel} kernel does not fit a {}x{} map padded by {padding}",
                    input.height,
                    input.width
                );
                Shape {
                    channels: rows,
                    height: (h - kernel) / stride + 1,
                    width: (w - kernel) / stride + 1,
                }
            }
        };
        ensure!(neurons.size() > 0, "has no neurons");
        let output = match pool {
            Some(p) => p.output(neurons)?,
            None => neurons,
        };
        Ok(Geometry {
            kind,
            input,
            neurons,
            pool,
            output,
        })
    }

    /// The weight row and bias of neuron `j`: itself for a dense layer, its output channel
    /// for a convolution.
    #[inline]
    pub fn row(&self, j: usize) -> usize {
        match self.kind {
            LayerKind::Dense => j,
            LayerKind::Conv2d { .. } => j / (self.neurons.height * self.neurons.width),
        }
    }

    /// Multiply-accumulates of one forward pass (padding's zeros not counted).
    pub fn macs(&self) -> usize {
        (0..self.input.size())
            .map(|i| self.receivers(i).len())
            .sum()
    }

    /// The neurons that input `i` (a flat index of [`Geometry::input`]) feeds, ascending, each
    /// with the column of its weight row that the input meets.
    pub fn receivers(&self, i: usize) -> Vec<(usize, usize)> {
        match self.kind {
            LayerKind::Dense => (0..self.neurons.size()).map(|j| (j, i)).collect(),
            LayerKind::Conv2d {
                kernel,
                stride,
                padding,
            } => {
                let plane = self.input.height * self.input.width;
                let (c, y, x) = (
                    i / plane,
                    (i % plane) / self.input.width,
                    i % self.input.width,
                );
                let n = self.neurons;
                let mut out = Vec::new();
                for o in 0..n.channels {
                    for ky in 0..kernel {
                        // y = oy * stride + ky - padding
                        let Some(sy) = (y + padding).checked_sub(ky) else {
                            continue;
                        };
                        if sy % stride != 0 || sy / stride >= n.height {
                            continue;
                        }
                        for kx in 0..kernel {
                            let Some(sx) = (x + padding).checked_sub(kx) else {
                                continue;
                            };
                            if sx % stride != 0 || sx / stride >= n.width {
                                continue;
                            }
                            let column = (c * kernel + ky) * kernel + kx;
                            out.push((n.index(o, sy / stride, sx / stride), column));
                        }
                    }
                }
                out.sort_unstable();
                out
            }
        }
    }
}

/// Every sender's receivers with their weights, in a compressed sparse row layout: sender
/// `i`'s are `target[offset[i]..offset[i + 1]]`, ascending, with `weight[..]` beside them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanOut {
    pub offset: Vec<usize>,
    pub target: Vec<u32>,
    pub weight: Vec<i16>,
}

impl FanOut {
    pub fn of(&self, i: usize) -> (&[u32], &[i16]) {
        let r = self.offset[i]..self.offset[i + 1];
        (&self.target[r.clone()], &self.weight[r])
    }

    pub fn senders(&self) -> usize {
        self.offset.len() - 1
    }
}

/// Who feeds whom, for the integer engines: the senders are the previous stage's spiking
/// neurons (`previous` says how they were pooled: a max-pooled stage sends its pooled
/// neurons, an average-pooled one its neurons themselves, each through its window's column).
/// Within one sender, targets ascend; a target appears once per window the sender is in.
pub fn fan_out(geometry: &Geometry, weight: &Array2<i16>, previous: Option<&Geometry>) -> FanOut {
    let through_input = |p: usize| -> Vec<(u32, i16)> {
        geometry
            .receivers(p)
            .into_iter()
            .map(|(j, col)| (j as u32, weight[[geometry.row(j), col]]))
            .collect()
    };
    let mut fan = FanOut {
        offset: vec![0],
        target: Vec::new(),
        weight: Vec::new(),
    };
    let push = |fan: &mut FanOut, list: Vec<(u32, i16)>| {
        for (j, w) in list {
            fan.target.push(j);
            fan.weight.push(w);
        }
        fan.offset.push(fan.target.len());
    };
    match previous.and_then(|g| g.pool.map(|p| (g, p))) {
        Some((g, pool)) if pool.kind == PoolKind::Avg => {
            // Each neuron of the previous layer feeds the pooled input of its window.
            let mut window_of = vec![None; g.neurons.size()];
            for (p, members) in pool.windows(g.neurons, g.output).into_iter().enumerate() {
                for m in members {
                    window_of[m] = Some(p);
                }
            }
            for w in window_of {
                push(&mut fan, w.map(through_input).unwrap_or_default());
            }
        }
        _ => {
            for p in 0..geometry.input.size() {
                push(&mut fan, through_input(p));
            }
        }
    }
    fan
}
