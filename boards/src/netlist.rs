//! A board's bitstream read back as a netlist and simulated behind its UART pins: what the
//! board itself would run (synthesis, block-RAM inference and initial contents, placement and
//! routing, the top's clocking), not the RTL it was made from.
//!
//! iCE40 only: icestorm's `iceunpack` and `icebox_vlog` turn the `.bin` into a Verilog
//! netlist of the configured chip (logic cells, `SB_RAM40_4K` instances with their initial
//! contents, flip-flops at their configuration value 0), which Verilator compiles with the
//! cell models yosys ships (`ice40/cells_sim.v`) and `netlist_tb.cpp`. The testbench speaks
//! 8N1 on the pins at the board's clocks per bit and passes bytes on stdin and stdout, like
//! the Verilator build of the RTL, so `fpga-host` puts it behind the same pseudo-terminal.
//!
//! The Alchitry Cu's PLL (`SB_PLL40_CORE`, a blackbox in yosys's models) is replaced by
//! [`pll_stand_in`]: its output clock is the testbench's clock (the 45 MHz it makes, the
//! rate the board's clocks per bit are counted in) and it reports lock only after
//! [`PLL_LOCK_CYCLES`], so the design's start before lock is simulated too.

use crate::board::Board;
use anyhow::{Context, Result, bail, ensure};
use fs_hdl::fpga::Family;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const TESTBENCH: &str = include_str!("netlist_tb.cpp");

/// Cycles of the testbench clock before the PLL stand-in reports lock.
pub const PLL_LOCK_CYCLES: u32 = 1000;

/// The iCE40 PLL for simulation: the reference clock passed through (the testbench drives the
/// clock the PLL would make), lock after [`PLL_LOCK_CYCLES`] cycles out of reset.
pub fn pll_stand_in() -> String {
    format!(
        r#"
module fs_sim_pll (
    input REFERENCECLK, output PLLOUTCORE, output PLLOUTGLOBAL, input EXTFEEDBACK,
    input [7:0] DYNAMICDELAY, output LOCK, input BYPASS, input RESETB,
    input LATCHINPUTVALUE, output SDO, input SDI, input SCLK
);
    parameter FEEDBACK_PATH = "SIMPLE";
    parameter DELAY_ADJUSTMENT_MODE_FEEDBACK = "FIXED";
    parameter DELAY_ADJUSTMENT_MODE_RELATIVE = "FIXED";
    parameter SHIFTREG_DIV_MODE = 1'b0;
    parameter FDA_FEEDBACK = 4'b0000;
    parameter FDA_RELATIVE = 4'b0000;
    parameter PLLOUT_SELECT = "GENCLK";
    parameter DIVR = 4'b0000;
    parameter DIVF = 7'b0000000;
    parameter DIVQ = 3'b000;
    parameter FILTER_RANGE = 3'b000;
    parameter ENABLE_ICEGATE = 1'b0;
    parameter TEST_MODE = 1'b0;
    parameter EXTERNAL_DIVIDE_FACTOR = 1;
    localparam [15:0] LOCK_CYCLES = {PLL_LOCK_CYCLES};
    reg [15:0] settling = 0;
    assign PLLOUTCORE = REFERENCECLK;
    assign PLLOUTGLOBAL = REFERENCECLK;
    assign LOCK = RESETB && settling == LOCK_CYCLES;
    assign SDO = 1'b0;
    always @(posedge REFERENCECLK)
        if (!RESETB) settling <= 0;
        else if (settling != LOCK_CYCLES) settling <= settling + 1;
endmodule
"#
    )
}

/// A compiled netlist simulation of one board: run `binary` with [`Self::args`]; it speaks
/// the wire protocol on stdin and stdout.
pub struct NetlistDevice {
    pub binary: PathBuf,
    pub clocks_per_bit: u16,
}

impl NetlistDevice {
    /// Reads `bitstream` (built for `board`) back and compiles it under `cache` (both steps
    /// reused when the bitstream is the same).
    pub fn build(board: &Board, bitstream: &Path, cache: &Path) -> Result<Self> {
        ensure!(
            board.part.family == Family::Ice40,
            "{} is an {:?} board: only iCE40 bitstreams can be read back as a netlist so far",
            board.name,
            board.part.family
        );
        let netlist = read_back_ice40(board, bitstream, cache)?;
        let cells = ice40_cell_models()?;
        let pll = pll_stand_in();
        let binary = fs_hdl::sim::verilator::verilate(
            cache,
            &[
                ("chip.v", &netlist),
                ("cells_sim.v", &cells),
                ("fs_sim_pll.v", &pll),
                ("netlist_tb.cpp", TESTBENCH),
            ],
            "chip",
            // Yosys's iCE40 models give unconnected inputs their default values only for
            // yosys itself; the netlist connects every input.
            &["NO_ICE40_DEFAULT_ASSIGNMENTS"],
        )?;
        Ok(NetlistDevice {
            binary,
            clocks_per_bit: board.clocks_per_bit(),
        })
    }

    /// The testbench's command-line arguments.
    pub fn args(&self) -> Vec<String> {
        vec![self.clocks_per_bit.to_string()]
    }
}

/// The Verilog netlist of an iCE40 bitstream, ports named after `board`'s pin file, cached
/// under `cache` by the bitstream's contents.
pub fn read_back_ice40(board: &Board, bitstream: &Path, cache: &Path) -> Result<String> {
    let bits = std::fs::read(bitstream).with_context(|| {
        format!(
            "reading the bitstream {} (scripts/build-bitstreams {} makes it)",
            bitstream.display(),
            board.name
        )
    })?;
    let pins = std::fs::read_to_string(board.constraints)
        .with_context(|| format!("reading the pin file {}", board.constraints))?;
    let mut hasher = DefaultHasher::new();
    (&bits, &pins, board.part.package, TOOL_VERSION).hash(&mut hasher);
    let cached = cache.join(format!("netlist-{:016x}.v", hasher.finish()));
    if let Ok(text) = std::fs::read_to_string(&cached) {
        return Ok(text);
    }
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    let work = cache.join(format!(
        "netlist-{:016x}.{}",
        hasher.finish(),
        std::process::id()
    ));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let asc = work.join("chip.asc");
    let pcf = work.join("pins.pcf");
    std::fs::write(&pcf, icebox_pin_file(&pins))?;
    run_tool(
        Command::new("iceunpack").arg(bitstream).arg(&asc),
        "iceunpack",
    )?;
    let netlist = run_tool(
        Command::new("icebox_vlog")
            .arg("-d")
            .arg(board.part.package)
            .arg("-p")
            .arg(&pcf)
            .arg("-s")
            .arg(&asc),
        "icebox_vlog",
    )?;
    let _ = std::fs::remove_dir_all(&work);
    let netlist = for_verilator(&netlist)?;
    std::fs::write(&cached, &netlist).with_context(|| format!("writing {}", cached.display()))?;
    Ok(netlist)
}

/// Changes to how a netlist is made invalidate the cache.
const TOOL_VERSION: u32 = 1;

/// Runs an icestorm tool; its stdout, or an error with its stderr.
fn run_tool(command: &mut Command, name: &str) -> Result<String> {
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("{name} is not installed: apt-get install fpga-icestorm")
        }
        _ => anyhow::Error::from(e).context(format!("running {name}")),
    })?;
    if !output.status.success() {
        bail!(
            "{name} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("{name} wrote something not UTF-8"))
}

/// A pin file as icebox_vlog reads it: it knows no `-nowarn`, and a bus bit `leds[3]` becomes
/// the port `leds_3` (a name Verilog takes).
fn icebox_pin_file(pins: &str) -> String {
    pins.lines()
        .map(|line| {
            line.replace(" -nowarn", "")
                .replace('[', "_")
                .replace(']', "")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// icebox_vlog's netlist as Verilator takes it: icebox_vlog declares the ports a second time
/// among its wires and registers (which iverilog allows, Verilator not), and instantiates the
/// PLL as yosys's blackbox, which becomes [`pll_stand_in`].
fn for_verilator(netlist: &str) -> Result<String> {
    let header = netlist
        .lines()
        .find(|l| l.starts_with("module chip"))
        .context("icebox_vlog's output has no module chip")?;
    let ports: Vec<&str> = header
        .split(['(', ')', ','])
        .skip(1)
        .filter_map(|p| p.split_whitespace().last())
        .filter(|p| *p != ";")
        .collect();
    let mut out = String::with_capacity(netlist.len());
    for line in netlist.lines() {
        // (Ports are never registers here: every pin goes through an I/O cell.)
        match line.strip_prefix("wire ") {
            Some(wires) => {
                let names: Vec<&str> = wires
                    .trim_end_matches(';')
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !ports.contains(name))
                    .collect();
                if !names.is_empty() {
                    out.push_str(&format!("wire {};\n", names.join(", ")));
                }
            }
            None => {
                out.push_str(&line.replace("SB_PLL40_CORE #(", "fs_sim_pll #("));
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// Yosys's iCE40 cell models: from `yosys-config --datdir`, or beside the yosys binary.
fn ice40_cell_models() -> Result<String> {
    let mut dirs = Vec::new();
    if let Ok(out) = Command::new("yosys-config").arg("--datdir").output()
        && out.status.success()
    {
        dirs.push(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    if let Ok(out) = Command::new("which").arg("yosys").output()
        && out.status.success()
    {
        let binary = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(prefix) = binary.parent().and_then(Path::parent) {
            dirs.push(prefix.join("share").join("yosys"));
        }
    }
    for dir in &dirs {
        let file = dir.join("ice40").join("cells_sim.v");
        if let Ok(text) = std::fs::read_to_string(&file) {
            return Ok(text);
        }
    }
    bail!(
        "yosys's iCE40 cell models (ice40/cells_sim.v) were not found (looked in {:?}): \
         apt-get install yosys",
        dirs
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_leave_the_wire_declarations_and_the_pll_is_replaced() {
        let netlist = "\nmodule chip (input clock, output uart_tx, output leds_0);\n\
                       wire clock, n3, uart_tx;\nwire leds_0;\nreg n1 = 0, n2 = 0;\n\
                       SB_PLL40_CORE #(\n) PLL_1 (\n);\nendmodule\n";
        let out = for_verilator(netlist).unwrap();
        assert!(out.contains("wire n3;\n"), "{out}");
        assert!(out.contains("reg n1 = 0, n2 = 0;\n"), "{out}");
        assert!(!out.contains("wire leds_0"), "{out}");
        assert!(out.contains("fs_sim_pll #(\n) PLL_1"), "{out}");
        assert!(for_verilator("wire a;\n").is_err());
    }

    #[test]
    fn pin_files_lose_nowarn_and_brackets() {
        assert_eq!(
            icebox_pin_file("set_io -nowarn clock 35\nset_io leds[7] N14"),
            "set_io clock 35\nset_io leds_7 N14"
        );
    }
}
