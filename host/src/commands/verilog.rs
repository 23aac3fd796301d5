//! `fpga-host verilog`: write the accelerator's Verilog for a model.

use super::HwArgs;
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use fs_hdl::accelerator::Accelerator;
use fs_hdl::pin_shell::PinShell;
use fs_model::modelfile;
use rust_hdl::prelude::generate_verilog;
use std::path::PathBuf;

#[derive(Args)]
pub struct VerilogArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// Output folder; the design is written to OUT/fs_accel.v (module `top`), the memories'
    /// initial contents to OUT/memories/ (read by `$readmemh` with absolute paths).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hw: HwArgs,
    /// Wrap the accelerator in `fs_hdl::pin_shell::PinShell` (33 registered pins), the top
    /// that `scripts/synth` places and routes.
    #[arg(long)]
    pub shell: bool,
}

pub fn run(args: VerilogArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let config = args.hw.config(&model)?;
    let mut accel = Accelerator::new(&model, &config).map_err(|e| anyhow!("{e}"))?;
    // The memories' contents go beside the design, read by `$readmemh` (absolute paths).
    let memories = args.out.join("memories");
    fs_hdl::bram::set_memory_dir(&memories)
        .with_context(|| format!("creating {}", memories.display()))?;
    let verilog = if args.shell {
        let classes = model.layers.last().map_or(0, |l| l.outputs());
        if model.input().bits > 8 || classes > 16 {
            bail!(
                "the pin shell takes pixels of up to 8 bits and up to 16 classes; this model has \
                 {}-bit pixels and {classes} classes",
                model.input().bits
            );
        }
        let mut shell = PinShell::new(accel);
        fs_hdl::sim::checked(&mut shell)?;
        generate_verilog(&shell)
    } else {
        fs_hdl::sim::checked(&mut accel)?;
        generate_verilog(&accel)
    };
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
