//! Activation functions, their FS-neuron parameters, and the published parameter sets.

use crate::neuron::FsParams;
use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The activation of a layer. `Identity` is the output layer: no neuron, its accumulated
/// potentials are the logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Silu,
    Sigmoid,
    Identity,
}

impl Activation {
    pub const ALL: [Activation; 4] = [
        Activation::Relu,
        Activation::Silu,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Silu => "silu",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    pub fn apply(self, x: f64) -> f64 {
        match self {
            Activation::Relu => x.max(0.0),
            Activation::Silu => x * sigmoid(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// Derivative, for training.
    pub fn derivative(self, x: f64) -> f64 {
        match self {
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (1.0 - s)
            }
            Activation::Identity => 1.0,
        }
    }

    /// The input range the default FS parameters of this activation are fitted on.
    pub fn default_range(self) -> (f64, f64) {
        match self {
            Activation::Relu => (0.0, 1.0),
            Activation::Silu => (-8.0, 12.0),
            Activation::Sigmoid => (-10.0, 10.0),
            Activation::Identity => (-1.0, 1.0),
        }
    }

    /// The default FS parameters: closed form for ReLU (alpha = 1, so `K` bits over `[0, 1)`),
    /// the published sets for SiLU (K = 16) and sigmoid (K = 12). `None` for identity.
    pub fn default_params(self, k: Option<usize>) -> Result<Option<FsParams>> {
        Ok(match self {
            Activation::Relu => Some(FsParams::relu(k.unwrap_or(8), 1.0)),
            Activation::Silu => Some(published(self, k, 16, published_silu_k16)?),
            Activation::Sigmoid => Some(published(self, k, 12, published_sigmoid_k12)?),
            Activation::Identity => None,
        })
    }
}

fn published(
    act: Activation,
    k: Option<usize>,
    published_k: usize,
    set: fn() -> FsParams,
) -> Result<FsParams> {
    match k {
        None => Ok(set()),
        Some(k) if k == published_k => Ok(set()),
        Some(k) => bail!(
            "no published {act} parameters for K = {k} (only K = {published_k}); \
             fit some with `fpga-host fit-neuron --activation {act} --k {k}`"
        ),
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s) || (s == "swish" && *a == Activation::Silu))
            .ok_or_else(|| {
                anyhow::anyhow!("unknown activation {s:?} (relu, silu, sigmoid, identity)")
            })
    }
}

/// SiLU / swish, K = 16, fitted on [-8, 12] (Stöckl & Maass 2021), in this crate's step order.
pub fn published_silu_k16() -> FsParams {
    FsParams {
        h: vec![
            0.7844085, 1.7550646, 1.4212719, 1.9244663, 1.4400164, 1.9249276, 1.6100428, 1.29061,
            0.83985287, 3.0827985, 0.43503317, 0.5155389, 0.3269445, 7.618048, -14.419675, 0.0,
        ],
        d: vec![
            0.40088242,
            1.8856316,
            1.4915457,
            1.947229,
            1.4717816,
            1.9147849,
            1.6389303,
            1.2934641,
            0.8703124,
            0.68460804,
            0.44262582,
            0.32832766,
            0.13907616,
            -0.26217145,
            0.23736191,
            -0.14830568,
        ],
        t: vec![
            0.05946945,
            1.6541206,
            1.3066754,
            1.3267198,
            1.1000695,
            1.2308974,
            1.1188028,
            0.9472501,
            0.5447531,
            1.0236325,
            0.11921431,
            -0.12855051,
            -0.44731247,
            -2.1383545,
            1.0,
            -4.109145,
        ],
    }
}

/// Sigmoid, K = 12, fitted on [-10, 10] (Stöckl & Maass 2021), in this crate's step order.
pub fn published_sigmoid_k12() -> FsParams {
    FsParams {
        h: vec![
            1.6558512, 1.0989026, 10.7739, 1.3579437, 1.0146959, 0.8972655, 2.1207616, 1.6949341,
            3.6397197, -2.1483946, 5.1177883, 0.0,
        ],
        d: vec![
            0.37689912, 0.21977554, 0.40271342, 0.17005783, 0.09584032, 0.06293014, 0.04360681,
            -0.0443096, 0.01999909, 0.07107325, 0.01502249, 0.01021793,
        ],
        t: vec![
            -0.00824843,
            -0.9319625,
            1.0080122,
            -1.2074932,
            -1.7885877,
            -2.7065408,
            -3.2715735,
            0.07132628,
            -3.719372,
            -0.543918,
            -3.7693157,
            -5.5447803,
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mse_on_grid(p: &FsParams, act: Activation, lo: f64, hi: f64, n: usize) -> (f64, f64) {
        let mut se = 0.0;
        let mut max: f64 = 0.0;
        for i in 0..n {
            let x = lo + (hi - lo) * i as f64 / (n - 1) as f64;
            let e = p.fire(x).0 - act.apply(x);
            se += e * e;
            max = max.max(e.abs());
        }
        (se / n as f64, max)
    }

    /// The notes measured these sets with the same step order; a wrong order is ~100x worse.
    #[test]
    fn published_sets_reach_their_measured_quality() {
        let (mse, max) = mse_on_grid(&published_silu_k16(), Activation::Silu, -8.0, 12.0, 100_000);
        assert!((mse - 3.45e-3).abs() < 0.1e-3, "silu mse {mse}");
        assert!((max - 0.295).abs() < 0.01, "silu max {max}");
        let (mse, max) = mse_on_grid(
            &published_sigmoid_k12(),
            Activation::Sigmoid,
            -10.0,
            10.0,
            100_000,
        );
        assert!((mse - 1.44e-4).abs() < 0.05e-4, "sigmoid mse {mse}");
        assert!((max - 0.058).abs() < 0.005, "sigmoid max {max}");
    }

    #[test]
    fn silu_reference_points() {
        let p = published_silu_k16();
        for (x, fs) in [
            (0.0, 0.066),
            (1.0, 0.720),
            (3.0, 2.795),
            (-1.0, -0.262),
            (-6.0, 0.0),
        ] {
            assert!(
                (p.fire(x).0 - fs).abs() < 1.5e-3,
                "x = {x}: {}",
                p.fire(x).0
            );
        }
    }

    #[test]
    fn names_round_trip() {
        for a in Activation::ALL {
            assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        }
        assert_eq!("swish".parse::<Activation>().unwrap(), Activation::Silu);
        assert!("tanh".parse::<Activation>().is_err());
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for a in [Activation::Silu, Activation::Sigmoid, Activation::Identity] {
            for x in [-3.0, -0.5, 0.2, 2.5] {
                let fd = (a.apply(x + 1e-6) - a.apply(x - 1e-6)) / 2e-6;
                assert!((fd - a.derivative(x)).abs() < 1e-6, "{a} at {x}");
            }
        }
    }
}
