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
    // Rust ignores SIGPIPE, so writing to a closed pipe (`fpga-host plan ... | head`) fails
    // and `println!` panics; with the default action the process ends quietly instead.
    #[cfg(unix)]
    // SAFETY: called first, before any thread starts; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    Cli::parse().command.run()
}
