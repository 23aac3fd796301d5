//! `fpga-host convert`, and the conversion settings shared with `train` and `import`.

use super::DataArgs;
use crate::progress;
use anyhow::{Context, Result};
use clap::Args;
use fs_model::convert::{Conversion, ConvertConfig, convert};
use fs_model::data::Split;
use fs_model::modelfile;
use fs_model::network::{Ann, InputEncoding};
use std::path::{Path, PathBuf};

/// Calibration images: the first ones of the training set.
const CALIBRATION_IMAGES: usize = 10_000;
/// Validation images for the converter's choices: the last ones of the training set.
const VALIDATION_IMAGES: usize = 5_000;

#[derive(Args, Clone)]
pub struct ConvertArgs {
    /// Time steps K of ReLU hidden neurons.
    #[arg(long, default_value_t = 8)]
    pub k: usize,
    /// Signed width of a weight.
    #[arg(long, default_value_t = 8)]
    pub weight_bits: u32,
    /// Signed membrane width (default: the smallest that cannot saturate).
    #[arg(long)]
    pub membrane_bits: Option<u32>,
    /// Signed width of spike values D(t) (default: the smallest that holds them).
    #[arg(long)]
    pub param_bits: Option<u32>,
    /// Percentile of calibration pre-activations used as a ReLU layer's range
    /// (default: the best of 99, 99.5, 99.9, 99.99, 100 on validation images).
    #[arg(long)]
    pub alpha_percentile: Option<f64>,
    /// Turn off the q/2 initial membrane offset (IMP) that makes ReLU neurons round.
    #[arg(long)]
    pub no_imp: bool,
    /// Keep the data-based ReLU range as is instead of rounding it to power-of-two thresholds.
    #[arg(long)]
    pub no_pow2: bool,
    /// Bits per input pixel, at most the data's (8 for MNIST): pixels are rescaled to
    /// 0..=2^B - 1, so each sends at most B spikes (fewer input events, faster hardware).
    /// Kept in the model file; eval, verify and infer rescale the images the same way.
    #[arg(long)]
    pub input_bits: Option<u32>,
}

impl ConvertArgs {
    /// `input` in `--input-bits` bits (unchanged without the option), and `split` rescaled to
    /// it.
    pub fn input(&self, input: InputEncoding, split: Split) -> Result<(InputEncoding, Split)> {
        let Some(bits) = self.input_bits else {
            return Ok((input, split));
        };
        let narrower = input.with_bits(bits).context("--input-bits")?;
        if narrower == input {
            return Ok((input, split));
        }
        let split = split.rescaled(narrower.max_value)?;
        Ok((narrower, split))
    }

    pub fn config(&self, source: String) -> ConvertConfig {
        ConvertConfig {
            k: self.k,
            weight_bits: self.weight_bits,
            membrane_bits: self.membrane_bits,
            param_bits: self.param_bits,
            alpha_percentile: self.alpha_percentile,
            imp: !self.no_imp,
            pow2_scales: !self.no_pow2,
            source,
            ..ConvertConfig::default()
        }
    }
}

/// Converts `ann` on the training images of `split`, prints what the conversion chose and
/// measured, and writes the model file.
pub fn convert_and_save(
    ann: &Ann,
    split: &Split,
    args: &ConvertArgs,
    source: String,
    out: &Path,
) -> Result<Conversion> {
    let train = &split.train;
    let calibration = train.take(CALIBRATION_IMAGES);
    let validation = if train.len() > CALIBRATION_IMAGES + VALIDATION_IMAGES {
        let n = train.len();
        train.select(&((n - VALIDATION_IMAGES)..n).collect::<Vec<_>>())
    } else {
        train.clone()
    };
    eprintln!(
        "converting: {} calibration and {} validation images of the training set",
        calibration.len(),
        validation.len()
    );
    let spinner = progress::spinner("converting");
    let conversion = convert(ann, &calibration, &validation, &args.config(source));
    spinner.finish_and_clear();
    let conversion = conversion?;
    let m = &conversion.model;
    if let Some(p) = m.conversion.alpha_percentile {
        for c in &conversion.candidates {
            eprintln!(
                "  alpha percentile {:>6}: validation accuracy {:.4}, {:.3} spikes/neuron",
                c.alpha_percentile, c.validation_accuracy, c.spikes_per_neuron
            );
        }
        eprintln!("chose alpha percentile {p}");
    }
    eprintln!(
        "validation accuracy (FS fixed point) {:.4} with the IMP offset, {:.4} without",
        conversion.accuracy_with_imp, conversion.accuracy_without_imp
    );
    eprintln!(
        "fixed point: weight {} bits, membrane {} bits, spike values {} bits",
        m.format.weight_bits, m.format.membrane_bits, m.format.param_bits
    );
    modelfile::save(m, out)?;
    eprintln!("wrote {}", out.display());
    // The file serves `eval` either way; say now if the accelerator cannot run it.
    if let Err(e) = fs_hdl::core::accelerator::supports(m) {
        eprintln!("note: the accelerator cannot run this network ({e}); `eval` can");
    }
    Ok(conversion)
}

#[derive(Args)]
pub struct ConvertCmdArgs {
    /// Model file whose ANN is converted again.
    #[arg(long)]
    pub model: PathBuf,
    /// Where to write the new model file.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub convert: ConvertArgs,
}

pub fn run(args: ConvertCmdArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let split = args.data.load_for(model.input())?;
    let (input, split) = args.convert.input(*model.input(), split)?;
    let ann = Ann {
        input,
        ..model.ann.clone()
    };
    let source = format!(
        "{} (re-converted from {})",
        model.conversion.source,
        args.model.display()
    );
    convert_and_save(&ann, &split, &args.convert, source, &args.out)
        .with_context(|| format!("converting {}", args.model.display()))?;
    Ok(())
}
