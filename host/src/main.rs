use anyhow::Result;
use clap::Parser;
use fpga_host::commands::Command;

/// Host driver of fs-accel, the FS-neuron spiking network accelerator.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

fn main() -> Result<()> {
    Cli::parse().command.run()
}
