//! `fpga-host train`: train an MLP or a CNN, then convert it.

use super::DataArgs;
use super::convert::{ConvertArgs, convert_and_save};
use crate::progress;
use anyhow::{Context, Result};
use clap::Args;
use fs_model::activation::Activation;
use fs_model::data::DatasetKind;
use fs_model::train::{TrainConfig, accuracy, input_encoding, parse_layers, train};
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// The layers: widths input first (784,256,10), or layer specifications
    /// (conv16k5s2,conv32k5s2,dense10; conv{C}k{K}[s{S}][p{P}], maxpool{W}[s{S}],
    /// avgpool{W}, dense{N}; see README).
    #[arg(long, required = true)]
    pub layers: String,
    /// Hidden activation: relu, silu or sigmoid.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Epochs (default: 30 for mnist, 200 for digits).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f32,
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f32,
    /// Random shift of training images, in pixels (default: 2 for mnist, 0 for digits).
    #[arg(long)]
    pub max_shift: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub convert: ConvertArgs,
}

pub fn run(args: TrainArgs) -> Result<()> {
    let split = args.data.load()?;
    let (input, split) = args.convert.input(input_encoding(&split.train), split)?;
    let mnist = args.data.kind() == DatasetKind::Mnist;
    let config = TrainConfig {
        layers: parse_layers(&args.layers, &input)?,
        activation: args.activation,
        epochs: args.epochs.unwrap_or(if mnist { 30 } else { 200 }),
        batch_size: args.batch_size,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        max_shift: args.max_shift.unwrap_or(if mnist { 2 } else { 0 }),
        seed: args.seed,
    };
    let mut source = format!(
        "fpga-host train --dataset {} --layers {} --activation {} --epochs {} --seed {}",
        args.data.kind(),
        args.layers,
        args.activation,
        config.epochs,
        args.seed
    );
    if let Some(bits) = args.convert.input_bits {
        source += &format!(" --input-bits {bits}");
    }
    let bar = progress::bar(0, "training", false);
    let ann = train(
        &split.train,
        &config,
        &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
        &mut |e| {
            bar.set_message(format!(
                "epoch {}/{}: loss {:.4}, train accuracy {:.4}",
                e.epoch, e.epochs, e.loss, e.train_accuracy
            ))
        },
    )
    .context("training")?;
    bar.finish();
    eprintln!(
        "ANN test accuracy: {:.4} on {} images",
        accuracy(&ann, &split.test)?,
        split.test.len()
    );
    convert_and_save(&ann, &split, &args.convert, source, &args.out)?;
    Ok(())
}
