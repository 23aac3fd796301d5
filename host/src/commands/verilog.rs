//! `fpga-host verilog`: write the accelerator's Verilog for a model.

use super::HwArgs;
use anyhow::{Context, Result, bail};
use clap::Args;
use fs_boards::{by_name, pin_shell, top_verilog};
use fs_hdl::core::accelerator::{Accelerator, HwConfig};
use fs_model::modelfile;
use rust_hdl::prelude::generate_verilog;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct VerilogArgs {
    /// Model file (default with --board: the board's).
    #[arg(long, required_unless_present = "board")]
    pub model: Option<PathBuf>,
    /// Output folder; the design is written to OUT/fs_accel.v (module `top`), the memories'
    /// initial contents to OUT/memories/ (read by `$readmemh` with absolute paths).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub hw: HwArgs,
    /// Wrap the accelerator in `fs_boards::pin_shell::PinShell` (34 registered pins), the top
    /// that `scripts/synth` places and routes.
    #[arg(long, conflicts_with = "board")]
    pub shell: bool,
    /// Write the top of a board instead (`fs_boards`: the device behind a UART, with the
    /// board's clock, baud rate and lanes): one of `fpga-host boards`, or xem7010 (with the
    /// `xem7010` feature: OUT/fs_accel.v and OUT/top.xdc for Vivado).
    #[arg(long)]
    pub board: Option<String>,
    /// With --board: print the board's facts as JSON on stdout (part, yosys synthesis
    /// command, clock, baud rate, model, lanes, pin file), which `scripts/build-bitstreams`
    /// builds from.
    #[arg(long, requires = "board")]
    pub json: bool,
    /// Build memories of at most 64 words from LUT RAM (for ECP5 and Xilinx 7, which have it;
    /// a lane's few neuron groups would otherwise take a block RAM each). With --board, the
    /// board's family decides.
    #[arg(long)]
    pub lut_ram: bool,
    /// Instantiate the ECP5 DSP block (MULT18X18D) for the first convolution's multipliers,
    /// with its own operand and product registers, which yosys does not put into it (for
    /// synthesis only: simulators get the same registers in plain Verilog). With --board, the
    /// board's family decides.
    #[arg(long)]
    pub ecp5_dsp: bool,
}

pub fn run(args: VerilogArgs) -> Result<()> {
    if args.board.as_deref() == Some("xem7010") {
        if args.json {
            bail!("--json gives the facts of the open-flow boards; the XEM7010 is built by Vivado");
        }
        return xem7010(&args);
    }
    let board = args.board.as_deref().map(by_name).transpose()?;
    let model_path = match (&args.model, board) {
        (Some(m), _) => m.clone(),
        (None, Some(b)) => PathBuf::from(b.model),
        (None, None) => bail!("--model is required"),
    };
    let model = modelfile::load(&model_path)?;
    let config = match board {
        Some(b) => HwConfig::new(b.lanes.to_vec()),
        None => args.hw.config(&model)?,
    };
    memories_in(&args.out)?;
    fs_hdl::core::bram::set_lut_ram(match board {
        Some(b) => b.part.family != fs_hdl::fpga::Family::Ice40,
        None => args.lut_ram,
    });
    fs_hdl::core::signed_product::set_ecp5_dsp(match board {
        Some(b) => b.part.family == fs_hdl::fpga::Family::Ecp5,
        None => args.ecp5_dsp,
    });
    let verilog = if let Some(b) = board {
        top_verilog(b, &model)?
    } else if args.shell {
        pin_shell::shell_verilog(&model, &config)?
    } else {
        let mut accel = Accelerator::new(&model, &config)?;
        fs_hdl::sim::checked(&mut accel)?;
        generate_verilog(&accel)
    };
    let path = write(&args.out, "fs_accel.v", &verilog)?;
    eprintln!(
        "wrote {} ({} lines; lanes per layer {:?})",
        path.display(),
        verilog.lines().count(),
        config.lanes
    );
    if let (Some(b), true) = (board, args.json) {
        super::print_json(&super::boards::BoardFacts::of(b))?;
    }
    Ok(())
}

/// Makes the memories' contents go to OUT/memories, beside the design (read by `$readmemh`
/// with absolute paths); this also creates OUT.
fn memories_in(out: &Path) -> Result<()> {
    let memories = out.join("memories");
    fs_hdl::core::bram::set_memory_dir(&memories)
        .with_context(|| format!("creating {}", memories.display()))
}

/// Writes OUT/NAME; returns its path.
fn write(out: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = out.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The XEM7010's top and pin constraints, for `scripts/build-bitstreams xem7010` (Vivado).
#[cfg(feature = "xem7010")]
fn xem7010(args: &VerilogArgs) -> Result<()> {
    use fs_boards::xem7010::{MODEL, top_sources};
    let model_path = args.model.clone().unwrap_or_else(|| PathBuf::from(MODEL));
    let model = modelfile::load(&model_path)?;
    memories_in(&args.out)?;
    let (verilog, xdc) = top_sources(&model)?;
    let path = write(&args.out, "fs_accel.v", &verilog)?;
    write(&args.out, "top.xdc", &xdc)?;
    eprintln!("wrote {} (XEM7010 top)", path.display());
    Ok(())
}

#[cfg(not(feature = "xem7010"))]
fn xem7010(_: &VerilogArgs) -> Result<()> {
    bail!(
        "this fpga-host was built without the xem7010 feature (it needs Opal Kelly's FrontPanel \
         SDK): build it with `--features xem7010` (docs/boards.md)"
    )
}
