//! `fpga-host import`: bring weights trained elsewhere, then convert them.

use super::DataArgs;
use super::convert::{ConvertArgs, convert_and_save};
use anyhow::Result;
use clap::Args;
use fs_model::activation::Activation;
use fs_model::import::{Layout, import_npz};
use fs_model::train::{accuracy, input_encoding, parse_layers};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// The .npz archive: arrays w0, b0, w1, b1, ... (see docs/import.md).
    pub npz: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Hidden activation of the imported network.
    #[arg(long, default_value = "relu")]
    pub activation: Activation,
    /// Weight layout: torch ([outputs, inputs]; conv [out, in, k, k]) or keras ([inputs,
    /// outputs]; conv [k, k, in, out]).
    #[arg(long, default_value = "torch")]
    pub layout: Layout,
    /// The layers, as `train --layers` spells them (conv16k5s2,maxpool2,dense10): needed for
    /// convolutions and pooling, checked against the arrays.
    #[arg(long)]
    pub layers: Option<String>,
    /// Model file to write.
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub convert: ConvertArgs,
}

pub fn run(args: ImportArgs) -> Result<()> {
    let split = args.data.load()?;
    let (input, split) = args.convert.input(input_encoding(&split.train), split)?;
    let topology = args
        .layers
        .as_deref()
        .map(|l| parse_layers(l, &input))
        .transpose()?;
    let ann = import_npz(
        &args.npz,
        input,
        args.activation,
        args.layout,
        topology.as_deref(),
    )?;
    eprintln!(
        "imported {:?}: ANN test accuracy {:.4}",
        ann.widths(),
        accuracy(&ann, &split.test)?
    );
    let source = format!("fpga-host import {}", args.npz.display());
    convert_and_save(&ann, &split, &args.convert, source, &args.out)?;
    Ok(())
}
