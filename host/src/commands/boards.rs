//! `fpga-host boards`: the boards with an open flow, from the one table of their facts
//! (`fs_boards::BOARDS`). `scripts/build-bitstreams` takes its default board list from here.

use super::print_json;
use anyhow::Result;
use clap::Args;
use fs_boards::{BOARDS, Board};
use serde::Serialize;

#[derive(Args)]
pub struct BoardsArgs {
    /// Print every board's facts as a JSON array instead of one line per board.
    #[arg(long)]
    pub json: bool,
}

/// A board's table entry with what the flows derive from it: the yosys synthesis command of
/// its part, its clock in MHz (nextpnr's `--freq`), and its UART's clocks per bit with the
/// design's rate error against the bridge's baud rate.
#[derive(Serialize)]
pub struct BoardFacts<'a> {
    #[serde(flatten)]
    pub board: &'a Board,
    pub synth: String,
    pub clock_mhz: f64,
    pub clocks_per_bit: u16,
    pub baud_error: f64,
}

impl<'a> BoardFacts<'a> {
    pub fn of(board: &'a Board) -> Self {
        BoardFacts {
            board,
            synth: board.part.synth_command(),
            clock_mhz: board.clock_hz as f64 / 1e6,
            clocks_per_bit: board.clocks_per_bit(),
            baud_error: board.baud_error(),
        }
    }
}

pub fn run(args: BoardsArgs) -> Result<()> {
    if args.json {
        return print_json(&BOARDS.iter().map(BoardFacts::of).collect::<Vec<_>>());
    }
    for b in &BOARDS {
        println!(
            "{:<12} {:?} {} ({}), {} MHz, {} baud ({} clocks a bit, {:+.1}%), {} with lanes {:?}, \
             pins {}",
            b.name,
            b.part.family,
            b.part.device,
            b.part.package,
            b.clock_hz as f64 / 1e6,
            b.baud,
            b.clocks_per_bit(),
            b.baud_error() * 100.0,
            b.model,
            b.lanes,
            b.constraints
        );
    }
    Ok(())
}
