//! `fpga-host fit-neuron`: fit T, h, d of an FS-neuron and report its approximation error.

use super::print_json;
use crate::progress;
use anyhow::{Context, Result, ensure};
use clap::Args;
use fs_model::activation::Activation;
use fs_model::fit::{FitConfig, fit, quality};
use serde::Serialize;

#[derive(Args)]
pub struct FitArgs {
    /// Activation to approximate: relu, silu or sigmoid.
    #[arg(long)]
    pub activation: Activation,
    /// Time steps K.
    #[arg(long)]
    pub k: usize,
    /// Input range LO,HI the neuron must cover (default: the activation's usual range).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, num_args = 1)]
    pub range: Option<Vec<f64>>,
    /// Random restarts (default: the fitter's).
    #[arg(long)]
    pub restarts: Option<usize>,
    /// Optimisation steps per restart (default: the fitter's).
    #[arg(long)]
    pub iterations: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object (parameters and quality) on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Output {
    activation: Activation,
    k: usize,
    range: (f64, f64),
    #[serde(flatten)]
    report: fs_model::fit::FitReport,
    /// The published set of the same activation and K, measured the same way, if one exists.
    published: Option<fs_model::fit::Quality>,
}

pub fn run(args: FitArgs) -> Result<()> {
    let range = match &args.range {
        Some(r) => {
            ensure!(r.len() == 2, "--range takes LO,HI, got {r:?}");
            (r[0], r[1])
        }
        None => args.activation.default_range(),
    };
    let mut config = FitConfig::new(args.activation, args.k, range);
    config.seed = args.seed;
    if let Some(r) = args.restarts {
        config.restarts = r;
    }
    if let Some(i) = args.iterations {
        config.iterations = i;
    }
    config.validate()?;
    let bar = progress::bar(config.restarts as u64, "fitting", args.json);
    let report = fit(&config, &mut |done, total, best| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(format!("best MSE {best:.3e}"));
    })
    .context("fitting the neuron")?;
    bar.finish_and_clear();
    let published = args
        .activation
        .default_params(Some(args.k))
        .ok()
        .flatten()
        .filter(|_| args.activation != Activation::Relu)
        .map(|p| quality(&p, args.activation, range, report.quality.points));
    let out = Output {
        activation: args.activation,
        k: args.k,
        range,
        report,
        published,
    };
    if args.json {
        return print_json(&out);
    }
    let q = &out.report.quality;
    println!(
        "{} K={} on [{}, {}], {} grid points:",
        out.activation, out.k, range.0, range.1, q.points
    );
    println!(
        "  fitted:    MSE {:.3e}, max |error| {:.4}, mean |error| {:.4}, {:.2} spikes/input",
        q.mse, q.max_abs_error, q.mean_abs_error, q.mean_spikes
    );
    if let Some(p) = &out.published {
        println!(
            "  published: MSE {:.3e}, max |error| {:.4}, mean |error| {:.4}, {:.2} spikes/input",
            p.mse, p.max_abs_error, p.mean_abs_error, p.mean_spikes
        );
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.7}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  T = [{}]", fmt(&out.report.params.t));
    println!("  h = [{}]", fmt(&out.report.params.h));
    println!("  d = [{}]", fmt(&out.report.params.d));
    Ok(())
}
