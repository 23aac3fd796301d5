//! `fpga-host serve`: a simulated device on a pseudo-terminal, which any program opens like a
//! board's serial port (`fpga-host infer --port PATH`, a host of one's own in another language,
//! a fault-injecting proxy).

use super::{Engine, HwArgs, NetlistSource, start_simulated};
use crate::pty_device::PtyDevice;
use anyhow::{Result, ensure};
use clap::{Args, ValueEnum};
use fs_model::modelfile;
use std::io::Write;
use std::path::PathBuf;

/// The devices `serve` can run.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ServedDevice {
    /// The device's RTL in simulation.
    Sim,
}

#[derive(Args)]
pub struct ServeArgs {
    #[arg(long, value_enum, default_value_t = ServedDevice::Sim)]
    pub device: ServedDevice,
    /// Simulator: RustHDL (no tools needed) or the Verilog under Verilator (much faster).
    #[arg(long, value_enum, default_value_t = Engine::Rusthdl)]
    pub engine: Engine,
    /// The model the device is built with (and holds until a host loads another); with
    /// `--engine netlist`, the board's model.
    #[arg(long, default_value = "models/mnist-mlp.fsnn")]
    pub model: PathBuf,
    /// `--engine netlist`: the board whose bitstream is read back (`fpga-host boards` lists
    /// them).
    #[arg(long)]
    pub board: Option<String>,
    /// `--engine netlist`: the bitstream to read back (default: the committed one of
    /// `--board`; for an ECP5 board the netlist after synthesis,
    /// build/boards/BOARD/top.json).
    #[arg(long)]
    pub bitstream: Option<PathBuf>,
    #[command(flatten)]
    pub hw: HwArgs,
    /// Where Verilator builds are cached.
    #[arg(long, default_value = "build/verilator")]
    pub build_dir: PathBuf,
}

/// Starts the device, prints its terminal's path as the first line on stdout, and serves
/// until the process is stopped (Ctrl-C, or a signal).
pub fn run(args: ServeArgs) -> Result<()> {
    let ServedDevice::Sim = args.device;
    let netlist = args
        .board
        .as_deref()
        .map(|board| NetlistSource::new(board, args.bitstream.clone()))
        .transpose()?;
    if let (Some(source), Engine::Netlist) = (&netlist, args.engine) {
        let sim = PtyDevice::start_netlist(source.board, &source.bitstream, &args.build_dir)?;
        println!("{}", sim.path);
        std::io::stdout().flush()?;
        eprintln!(
            "serving {} read back as a netlist ({} with {}) on {}; stop with Ctrl-C",
            source.bitstream.display(),
            source.board.name,
            source.board.model,
            sim.path
        );
        park_forever();
    }
    ensure!(
        netlist.is_none(),
        "--board names the board whose bitstream `--engine netlist` reads back"
    );
    let model = modelfile::load(&args.model)?;
    fs_hdl::core::accelerator::supports(&model)?;
    let config = args.hw.config(&model)?;
    let sim = start_simulated(&model, &config, args.engine, None, &args.build_dir, false)?;
    println!("{}", sim.path);
    std::io::stdout().flush()?;
    eprintln!(
        "serving {} (lanes {:?}, {:?} simulation) on {}; stop with Ctrl-C",
        args.model.display(),
        config.lanes,
        args.engine,
        sim.path
    );
    park_forever()
}

/// The device runs in its own threads; this one only keeps the process (and the terminal)
/// alive.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}
