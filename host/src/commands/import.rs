//! `fpga-host import`: bring a network trained elsewhere, then convert it.

use super::DataArgs;
use super::convert::{ConvertArgs, convert_and_save};
use anyhow::{Result, bail};
use clap::Args;
use fs_model::activation::Activation;
use fs_model::import::{Layout, import_npz, import_onnx};
use fs_model::train::{accuracy, input_encoding, parse_layers};
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// The network: an ONNX graph (.onnx, as torch.onnx.export or tf2onnx write it) or an
    /// .npz archive of arrays w0, b0, w1, b1, ... (see docs/import.md).
    pub file: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Hidden activation of an .npz network [default: relu] (an ONNX graph names its own).
    #[arg(long)]
    pub activation: Option<Activation>,
    /// Weight layout of an .npz archive [default: torch]: torch ([outputs, inputs]; conv
    /// [out, in, k, k]) or keras ([inputs, outputs]; conv [k, k, in, out]).
    #[arg(long)]
    pub layout: Option<Layout>,
    /// The layers of an .npz network, as `train --layers` spells them
    /// (conv16k5s2,maxpool2,dense10): needed for convolutions and pooling, checked against
    /// the arrays.
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
    let onnx = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("onnx"));
    let ann = if onnx {
        for (given, flag) in [
            (args.activation.is_some(), "--activation"),
            (args.layout.is_some(), "--layout"),
            (args.layers.is_some(), "--layers"),
        ] {
            if given {
                bail!(
                    "{flag} is for .npz archives; an ONNX graph carries its own activations, \
                     layouts and layers"
                );
            }
        }
        import_onnx(&args.file, input)?
    } else {
        let topology = args
            .layers
            .as_deref()
            .map(|l| parse_layers(l, &input))
            .transpose()?;
        import_npz(
            &args.file,
            input,
            args.activation.unwrap_or(Activation::Relu),
            args.layout.unwrap_or(Layout::Torch),
            topology.as_deref(),
        )?
    };
    eprintln!(
        "imported {:?}: ANN test accuracy {:.4}",
        ann.widths(),
        accuracy(&ann, &split.test)?
    );
    let source = format!("fpga-host import {}", args.file.display());
    convert_and_save(&ann, &split, &args.convert, source, &args.out)?;
    Ok(())
}
