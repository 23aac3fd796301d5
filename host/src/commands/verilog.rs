//! `fpga-host verilog`: write the accelerator's Verilog for a model.

use super::HwArgs;
use anyhow::{Context, Result, anyhow};
use clap::Args;
use fs_hdl::accelerator::Accelerator;
use fs_model::modelfile;
use rust_hdl::prelude::generate_verilog;
use std::path::PathBuf;

#[derive(Args)]
pub struct VerilogArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder; the design is written to OUT/fs_accel.v (module `top`).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hw: HwArgs,
}

pub fn run(args: VerilogArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let config = args.hw.config(&model)?;
    let mut accel = Accelerator::new(&model, &config).map_err(|e| anyhow!("{e}"))?;
    fs_hdl::sim::checked(&mut accel)?;
    let verilog = generate_verilog(&accel);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("fs_accel.v");
    std::fs::write(&path, &verilog).with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} ({} lines; lanes per layer {:?})",
        path.display(),
        verilog.lines().count(),
        config.lanes
    );
    Ok(())
}
