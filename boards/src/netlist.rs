//! A board's bitstream read back as a netlist and simulated behind its UART pins: what the
//! board itself would run (synthesis, block-RAM inference and initial contents, placement and
//! routing, the top's clocking), not the RTL it was made from.
//!
//! On iCE40, icestorm's `iceunpack` and `icebox_vlog` turn the `.bin` into a Verilog netlist of
//! the configured chip (logic cells, `SB_RAM40_4K` instances with their initial contents,
//! flip-flops at their configuration value 0). No open tool reads an ECP5 bitstream back as
//! logic, so an ECP5 board is simulated one step earlier: the netlist after synthesis that
//! nextpnr places (yosys's `top.json`, written back as Verilog over `LUT4`, `CCU2C`,
//! `TRELLIS_FF`, `DP16KD` ...). Verilator compiles either with the family's cell models that
//! yosys ships (`ice40/cells_sim.v`, `ecp5/cells_sim.v`) and `netlist_tb.cpp`. The testbench
//! speaks 8N1 on the pins at the board's clocks per bit and passes bytes on stdin and stdout,
//! like the Verilator build of the RTL, so `fpga-host` puts it behind the same
//! pseudo-terminal.
//!
//! Yosys's ECP5 models leave the block RAM (`DP16KD`) a blackbox: [`dp16kd_stand_in`] models
//! the modes our netlists use, and [`check_dp16kd_modes`] refuses any other.
//!
//! The PLLs (the Alchitry Cu's `SB_PLL40_CORE`, the ULX3S's `EHXPLLL`, blackboxes in yosys's
//! models) are replaced by stand-ins ([`pll_stand_in`], [`ehxplll_stand_in`]): their output
//! clock is the testbench's clock (the clock the PLL makes, the rate the board's clocks per
//! bit are counted in) and they report lock only after [`PLL_LOCK_CYCLES`], so the design's
//! start before lock, held off the line by its [`LockHold`](crate::lock_hold::LockHold), is
//! simulated too. The testbench then waits [`NetlistDevice::startup_cycles`] before its first
//! byte, as a host opens the port well after the board has configured.

use crate::board::{Board, TopKind};
use crate::ecp5_pll::EHXPLLL_PORTS;
use crate::lock_hold::LockHold;
use anyhow::{Context, Result, bail, ensure};
use fs_hdl::core::signed_product::mult18x18d_model;
use fs_hdl::fpga::Family;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const TESTBENCH: &str = include_str!("netlist_tb.cpp");

/// Cycles of the testbench clock before the PLL stand-in reports lock.
pub const PLL_LOCK_CYCLES: u32 = 1000;

/// The iCE40 PLLs for simulation, `fs_sim_pll` for `SB_PLL40_CORE` (fed from the fabric's
/// `REFERENCECLK`) and `fs_sim_pad_pll` for `SB_PLL40_PAD` (fed from its `PACKAGEPIN`): the
/// reference clock passed through (the testbench drives the clock the PLL would make), lock
/// after [`PLL_LOCK_CYCLES`] cycles out of reset.
pub fn pll_stand_in() -> String {
    [
        ("fs_sim_pll", "REFERENCECLK"),
        ("fs_sim_pad_pll", "PACKAGEPIN"),
    ]
    .map(|(module, reference)| ice40_pll_stand_in(module, reference))
    .concat()
}

fn ice40_pll_stand_in(module: &str, reference: &str) -> String {
    format!(
        r#"
module {module} (
    input {reference}, output PLLOUTCORE, output PLLOUTGLOBAL, input EXTFEEDBACK,
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
    assign PLLOUTCORE = {reference};
    assign PLLOUTGLOBAL = {reference};
    assign LOCK = RESETB && settling == LOCK_CYCLES;
    assign SDO = 1'b0;
    always @(posedge {reference})
        if (!RESETB) settling <= 0;
        else if (settling != LOCK_CYCLES) settling <= settling + 1;
endmodule
"#
    )
}

/// The ECP5 PLL for simulation, as [`pll_stand_in`] is the iCE40's: `CLKOP` is `CLKI`, lock
/// after [`PLL_LOCK_CYCLES`] cycles.
pub fn ehxplll_stand_in() -> String {
    format!(
        r#"
module fs_sim_ehxplll (
{EHXPLLL_PORTS});
    parameter PLLRST_ENA = "DISABLED";
    parameter INTFB_WAKE = "DISABLED";
    parameter STDBY_ENABLE = "DISABLED";
    parameter DPHASE_SOURCE = "DISABLED";
    parameter OUTDIVIDER_MUXA = "DIVA";
    parameter OUTDIVIDER_MUXB = "DIVB";
    parameter OUTDIVIDER_MUXC = "DIVC";
    parameter OUTDIVIDER_MUXD = "DIVD";
    parameter CLKI_DIV = 1;
    parameter CLKOP_ENABLE = "ENABLED";
    parameter CLKOP_DIV = 8;
    parameter CLKOP_CPHASE = 0;
    parameter CLKOP_FPHASE = 0;
    parameter FEEDBK_PATH = "CLKOP";
    parameter CLKFB_DIV = 1;
    localparam [15:0] LOCK_CYCLES = {PLL_LOCK_CYCLES};
    reg [15:0] settling = 0;
    assign CLKOP = CLKI;
    assign {{CLKOS, CLKOS2, CLKOS3, INTLOCK, REFCLK, CLKINTFB}} = 6'b0;
    assign LOCK = settling == LOCK_CYCLES;
    always @(posedge CLKI)
        if (settling != LOCK_CYCLES) settling <= settling + 1;
endmodule
"#
    )
}

/// A compiled netlist simulation of one board: run `binary` with [`Self::args`]; it speaks
/// the wire protocol on stdin and stdout.
pub struct NetlistDevice {
    pub binary: PathBuf,
    pub clocks_per_bit: u16,
    /// Cycles the testbench keeps the line idle after configuration: a top with a PLL takes
    /// [`PLL_LOCK_CYCLES`] to lock and its hold's settling time before it listens.
    pub startup_cycles: u32,
}

impl NetlistDevice {
    /// Reads `source` (for `board`) back and compiles it under `cache` (both steps reused
    /// when the source is the same): an iCE40 board's bitstream, or an ECP5 board's netlist
    /// after synthesis (the `top.json` that `scripts/build-bitstreams` hands to nextpnr: no
    /// open tool reads an ECP5 bitstream back as logic).
    pub fn build(board: &Board, source: &Path, cache: &Path) -> Result<Self> {
        let binary = match board.part.family {
            Family::Ice40 => {
                let netlist = read_back_ice40(board, source, cache)?;
                let cells = cell_models("ice40")?;
                let pll = pll_stand_in();
                fs_hdl::sim::verilator::verilate(
                    cache,
                    &[
                        ("chip.v", &netlist),
                        ("cells_sim.v", &cells),
                        ("fs_sim_pll.v", &pll),
                        ("netlist_tb.cpp", TESTBENCH),
                    ],
                    "chip",
                    // Yosys's iCE40 models give unconnected inputs their default values only
                    // for yosys itself; the netlist connects every input.
                    &["NO_ICE40_DEFAULT_ASSIGNMENTS"],
                    false,
                )?
            }
            Family::Ecp5 => {
                let netlist = on_stand_ins(&read_back_synthesised(board, source, cache)?)?;
                let cells = cell_models("ecp5")?;
                let ram = dp16kd_stand_in();
                let multiplier = mult18x18d_model("fs_sim_mult18x18d");
                let pll = ehxplll_stand_in();
                let chip = chip_around_top(board);
                fs_hdl::sim::verilator::verilate(
                    cache,
                    &[
                        ("top.v", &netlist),
                        ("chip.v", &chip),
                        ("cells_sim.v", &cells),
                        ("fs_sim_dp16kd.v", &ram),
                        ("fs_sim_mult18x18d.v", &multiplier),
                        ("fs_sim_ehxplll.v", &pll),
                        ("netlist_tb.cpp", TESTBENCH),
                    ],
                    "chip",
                    &[],
                    false,
                )?
            }
            Family::Xilinx7 => bail!(
                "{} is a Xilinx 7 board, built by Vivado: no open tool reads its bitstream back",
                board.name
            ),
        };
        let startup_cycles = match board.top {
            TopKind::Uart => 0,
            // Lock, the lock's two synchronising flip-flops, the settling time, and a margin.
            TopKind::Icebreaker | TopKind::AlchitryCu | TopKind::Ulx3s => {
                PLL_LOCK_CYCLES + LockHold::settle_cycles(board.clock_hz as u64) as u32 + 100
            }
        };
        Ok(NetlistDevice {
            binary,
            clocks_per_bit: board.clocks_per_bit(),
            startup_cycles,
        })
    }

    /// The testbench's command-line arguments.
    pub fn args(&self) -> Vec<String> {
        vec![
            self.clocks_per_bit.to_string(),
            self.startup_cycles.to_string(),
        ]
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
    cached(cache, (&bits, &pins, board.part.package), |work| {
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
        for_verilator(&netlist)
    })
}

/// The netlist made by `make` (in a work folder of its own, removed after) from what `key`
/// hashes, kept under `cache` so the same input is read back once.
fn cached(
    cache: &Path,
    key: impl Hash,
    make: impl FnOnce(&Path) -> Result<String>,
) -> Result<String> {
    let mut hasher = DefaultHasher::new();
    (key, TOOL_VERSION).hash(&mut hasher);
    let file = cache.join(format!("netlist-{:016x}.v", hasher.finish()));
    if let Ok(text) = std::fs::read_to_string(&file) {
        return Ok(text);
    }
    let work = cache.join(format!(
        "netlist-{:016x}.{}",
        hasher.finish(),
        std::process::id()
    ));
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let made = make(&work);
    let _ = std::fs::remove_dir_all(&work);
    let netlist = made?;
    std::fs::write(&file, &netlist).with_context(|| format!("writing {}", file.display()))?;
    Ok(netlist)
}

/// The synthesised netlist of an ECP5 board (yosys's JSON, as nextpnr reads it) as Verilog
/// over yosys's ECP5 cells, cached under `cache` by the JSON's contents.
pub fn read_back_synthesised(board: &Board, json: &Path, cache: &Path) -> Result<String> {
    let text = std::fs::read(json).with_context(|| {
        format!(
            "reading the synthesised netlist {} (`scripts/build-bitstreams --synth-only {}` \
             writes it)",
            json.display(),
            board.name
        )
    })?;
    cached(cache, &text, |work| {
        let out = work.join("top.v");
        // Bit by bit: a carry chain through a multi-bit wire looks like a combinational loop
        // to Verilator, whose settling then does not converge.
        let script = format!(
            "read_json {}; splitnets; opt_clean -purge; write_verilog -noattr {}",
            json.display(),
            out.display()
        );
        run_tool(Command::new("yosys").args(["-q", "-p", &script]), "yosys")?;
        let verilog =
            std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
        ensure!(
            verilog.contains("module top("),
            "{} holds no module top: it is not a board top's netlist",
            json.display()
        );
        Ok(verilog)
    })
}

/// An ECP5 netlist with its blackbox cells (block RAM, DSP blocks, PLL) on the stand-ins
/// ([`dp16kd_stand_in`], [`mult18x18d_model`], [`ehxplll_stand_in`]), once the modes it uses
/// are ones they model.
pub fn on_stand_ins(netlist: &str) -> Result<String> {
    check_dp16kd_modes(netlist)?;
    check_mult18x18d_modes(netlist)?;
    Ok(netlist
        .replace("DP16KD #(", "fs_sim_dp16kd #(")
        .replace("MULT18X18D #(", "fs_sim_mult18x18d #(")
        .replace("EHXPLLL #(", "fs_sim_ehxplll #("))
}

/// The ECP5 block RAM for simulation (yosys ships `DP16KD` as a blackbox): 1,024 words of
/// 18 bits, seen by each port as 18 bits (address bits 13 to 4, bits 1 and 0 the byte
/// enables), 9 bits (bits 13 to 3: a half of word `address / 2`, the low half at even
/// addresses) or 4, 2 or 1 bits (bits 13 to 2, 1 or 0: the word's 16 data bits, items from
/// bit 0 up, skipping its 9th bit), or as one 36-bit port (`PDPW16KD` in `DP16KD`'s clothes:
/// port A writes words `2 w` and `2 w + 1` from `DIA` and `DIB` at bits 13 to 5, bits 3 to 0
/// the byte enables; port B reads them onto `DOA` and `DOB`); the output unregistered,
/// `NORMAL`, `WRITETHROUGH` or `READBEFOREWRITE`, and the contents of `INITVAL_00` to
/// `INITVAL_3F` (word `16 i + k` in bits `20 k` to `20 k + 17` of `INITVAL_i`: how yosys and
/// prjtrellis lay them out). [`check_dp16kd_modes`] refuses a netlist that uses other modes.
/// The test `block_ram_stand_in_reads_what_yosys_stored` (boards/tests/netlist.rs) simulates
/// it against memories yosys maps onto it, width by width.
pub fn dp16kd_stand_in() -> String {
    let bits = |prefix: &str, n: usize| -> Vec<String> {
        (0..n).rev().map(|i| format!("{prefix}{i}")).collect()
    };
    let mut ports = Vec::new();
    let mut decls = String::new();
    let mut body = String::new();
    for p in ["A", "B"] {
        let (di, ad, cs, dout) = (
            bits(&format!("DI{p}"), 18),
            bits(&format!("AD{p}"), 14),
            bits(&format!("CS{p}"), 3),
            bits(&format!("DO{p}"), 18),
        );
        ports.push(format!(
            "input {}, {}, {}, CE{p}, OCE{p}, CLK{p}, WE{p}, RST{p}, output {}",
            di.join(", "),
            ad.join(", "),
            cs.join(", "),
            dout.join(", ")
        ));
        let narrow = |width: usize| {
            format!(
                r#"
            end else if (DATA_WIDTH_{p} == {width}) begin
                if (WE{p}) mem[word_{p}][item_{p}({width}) +: {width}] <= di_{p}[{top}:0];
                if (!WE{p} || WRITEMODE_{p} == "READBEFOREWRITE")
                    do_{p} <= {{{pad}'b0, mem[word_{p}][item_{p}({width}) +: {width}]}};
                else if (WRITEMODE_{p} == "WRITETHROUGH") do_{p} <= {{{pad}'b0, di_{p}[{top}:0]}};"#,
                top = width - 1,
                pad = 18 - width,
            )
        };
        // 36 bits: port A writes both words (`DIB` the high one), port B reads them.
        let wide = if p == "A" {
            "
                if (WEA) begin
                    if (ad_A[0]) mem[low_A][8:0] <= di_A[8:0];
                    if (ad_A[1]) mem[low_A][17:9] <= di_A[17:9];
                    if (ad_A[2]) mem[high_A][8:0] <= di_B[8:0];
                    if (ad_A[3]) mem[high_A][17:9] <= di_B[17:9];
                end"
        } else {
            "
                {do_B, wide_low} <= {mem[high_B], mem[low_B]};"
        };
        decls.push_str(&format!(
            "    wire [17:0] di_{p} = {{{}}};\n",
            di.join(", ")
        ));
        body.push_str(&format!(
            r#"
    wire [13:0] ad_{p} = {{{ad}}};
    wire [2:0] cs_{p} = {{{cs}}};
    wire [9:0] word_{p} = ad_{p}[13:4];
    wire [10:0] half_{p} = ad_{p}[13:3];
    // The two words of a 36-bit access.
    wire [9:0] low_{p} = {{ad_{p}[13:5], 1'b0}};
    wire [9:0] high_{p} = {{ad_{p}[13:5], 1'b1}};
    // A narrow item's first bit in its word: the address's low bits (less those below the
    // width) count data bits, 0 to 7 and, past the 9th bit, 9 to 16.
    function [4:0] item_{p}(input integer width);
        item_{p} = ad_{p}[3:0] - ad_{p}[3:0] % width + ad_{p}[3];
    endfunction
    reg [17:0] do_{p} = 0;
    assign {{{dout}}} = DATA_WIDTH_B == 36 ? {wide_out} : do_{p};
    wire selected_{p} = CE{p} && cs_{p} == decode(CSDECODE_{p});
    always @(posedge CLK{p} or posedge RST{p})
        if (RST{p}) begin
            do_{p} <= 0;{wide_reset}
        end
        else if (selected_{p}) begin
            if (DATA_WIDTH_{p} == 36) begin{wide}
            end else if (DATA_WIDTH_{p} == 18) begin
                if (WE{p} && ad_{p}[0]) mem[word_{p}][8:0] <= di_{p}[8:0];
                if (WE{p} && ad_{p}[1]) mem[word_{p}][17:9] <= di_{p}[17:9];
                if (!WE{p} || WRITEMODE_{p} == "READBEFOREWRITE") do_{p} <= mem[word_{p}];
                else if (WRITEMODE_{p} == "WRITETHROUGH") do_{p} <= di_{p};
            end else if (DATA_WIDTH_{p} == 9) begin
                if (WE{p}) mem[half_{p}[10:1]][half_{p}[0] * 9 +: 9] <= di_{p}[8:0];
                if (!WE{p} || WRITEMODE_{p} == "READBEFOREWRITE")
                    do_{p} <= {{9'b0, mem[half_{p}[10:1]][half_{p}[0] * 9 +: 9]}};
                else if (WRITEMODE_{p} == "WRITETHROUGH") do_{p} <= {{9'b0, di_{p}[8:0]}};{narrow4}{narrow2}{narrow1}
            end
        end
"#,
            ad = ad.join(", "),
            cs = cs.join(", "),
            dout = dout.join(", "),
            wide = wide,
            wide_out = if p == "A" { "wide_low" } else { "do_B" },
            wide_reset = if p == "B" { "\n            wide_low <= 0;" } else { "" },
            narrow4 = narrow(4),
            narrow2 = narrow(2),
            narrow1 = narrow(1),
        ));
    }
    let mut params = String::new();
    let mut init = String::new();
    for i in 0..64 {
        params.push_str(&format!(
            "    parameter INITVAL_{i:02X} = 320'h0;
"
        ));
        init.push_str(&format!(
            "        for (k = 0; k < 16; k = k + 1) mem[{} + k] = INITVAL_{i:02X}[20 * k +: 18];
",
            16 * i
        ));
    }
    format!(
        r#"
module fs_sim_dp16kd ({ports});
    parameter DATA_WIDTH_A = 18;
    parameter DATA_WIDTH_B = 18;
    parameter REGMODE_A = "NOREG";
    parameter REGMODE_B = "NOREG";
    parameter RESETMODE = "SYNC";
    parameter ASYNC_RESET_RELEASE = "SYNC";
    parameter CSDECODE_A = "0b000";
    parameter CSDECODE_B = "0b000";
    parameter WRITEMODE_A = "NORMAL";
    parameter WRITEMODE_B = "NORMAL";
    parameter CLKAMUX = "CLKA";
    parameter CLKBMUX = "CLKB";
    parameter GSR = "ENABLED";
{params}
    // "0bXYZ", the chip-select value the port answers to.
    function [2:0] decode(input [8 * 5 - 1:0] text);
        decode = {{text[16] , text[8], text[0]}};
    endfunction
    reg [17:0] mem [0:1023];
    integer k;
    initial begin
{init}    end
{decls}    // The low word of a 36-bit read (the high one is port B's own output).
    reg [17:0] wide_low = 0;
{body}
endmodule
"#,
        ports = ports.join(
            ",
    "
        )
    )
}

/// The block RAM modes [`dp16kd_stand_in`] models; anything else in `netlist` is refused by
/// name rather than simulated wrongly. (A 36-bit port is a mode of the whole block: both
/// ports or neither.)
fn check_dp16kd_modes(netlist: &str) -> Result<()> {
    let allowed: [(&str, &[&str]); 6] = [
        (
            "DATA_WIDTH_",
            &[
                "32'd36", "32'd18", "32'd9", "32'd4", "32'd2", "32'd1", "36", "18", "9", "4", "2",
                "1",
            ],
        ),
        ("REGMODE_", &["\"NOREG\""]),
        ("CSDECODE_", &["\"0b000\""]),
        ("CLKAMUX", &["\"CLKA\""]),
        ("CLKBMUX", &["\"CLKB\""]),
        (
            "WRITEMODE_",
            &["\"NORMAL\"", "\"WRITETHROUGH\"", "\"READBEFOREWRITE\""],
        ),
    ];
    // The widths of the block whose parameters are being read, port A's and B's.
    let mut wide = [false; 2];
    for line in netlist.lines().map(str::trim) {
        for (name, values) in allowed {
            if line.starts_with(&format!(".{name}")) {
                let (key, value) = parameter(line);
                ensure!(
                    values.contains(&value),
                    "the netlist has a DP16KD with {key} = {value}: the netlist simulation \
                     models {values:?} only"
                );
                if let Some(port) = key.strip_prefix("DATA_WIDTH_") {
                    wide[usize::from(port == "B")] = value.ends_with("36");
                }
            }
        }
        // `) name (`: the parameters end.
        if line.starts_with(')') {
            ensure!(
                wide[0] == wide[1],
                "the netlist has a DP16KD with one 36-bit port and one narrower: the netlist \
                 simulation models 36 bits on both ports only"
            );
            wide = [false; 2];
        }
    }
    Ok(())
}

/// A parameter line of an instance, `.DATA_WIDTH_A(32'd9),`: the parameter, and its value
/// between the parentheses.
fn parameter(line: &str) -> (&str, &str) {
    let line = line.trim_start_matches('.');
    line.split_once('(')
        .map(|(k, v)| (k, v.rsplit_once(')').map_or(v, |(v, _)| v)))
        .unwrap_or((line, ""))
}

/// The DSP block modes [`mult18x18d_model`] models (the registers `SignedProduct` turns on,
/// on `CLK0` or none); any other parameter of a MULT18X18D in `netlist` is refused by name.
fn check_mult18x18d_modes(netlist: &str) -> Result<()> {
    let mut in_multiplier = false;
    for line in netlist.lines().map(str::trim) {
        if line.starts_with("MULT18X18D #(") {
            in_multiplier = true;
        } else if line.starts_with(')') {
            in_multiplier = false;
        } else if in_multiplier && line.starts_with('.') {
            let (key, value) = parameter(line);
            ensure!(
                ["REG_INPUTA_CLK", "REG_INPUTB_CLK", "REG_OUTPUT_CLK"].contains(&key)
                    && ["\"NONE\"", "\"CLK0\""].contains(&value),
                "the netlist has a MULT18X18D with {key} = {value}: the netlist simulation \
                 models its input and output registers on CLK0 only"
            );
        }
    }
    Ok(())
}

/// The synthesised top of an ECP5 board as the testbench's `chip`: its pins as in the pin file.
fn chip_around_top(board: &Board) -> String {
    let (lock, lock_pin) = match board.top {
        TopKind::Ulx3s => (", output led_locked", ", .led_locked(led_locked)"),
        _ => ("", ""),
    };
    format!(
        "
module chip(input clock, input uart_rx, output uart_tx, output led_link, output led_feed{lock});
    top board(.clock(clock), .uart_rx(uart_rx), .uart_tx(uart_tx), .led_link(led_link),
              .led_feed(led_feed){lock_pin});
endmodule
"
    )
}

/// Changes to how a netlist is made invalidate the cache.
const TOOL_VERSION: u32 = 3;

/// Runs a tool (icestorm's, or yosys); its stdout, or an error with its stderr.
fn run_tool(command: &mut Command, name: &str) -> Result<String> {
    let package = if name == "yosys" {
        "yosys"
    } else {
        "fpga-icestorm"
    };
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("{name} is not installed: apt-get install {package}")
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
/// PLL as yosys's blackbox, which becomes [`pll_stand_in`]. A pad-fed PLL's pin is left
/// unmatched to the port placed on it (icebox_vlog names the pad's net by position), so it is
/// connected to the top's `clock`: every board top names its oscillator's pin so.
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
            None if line.trim_start().starts_with(".PACKAGEPIN(") => {
                ensure!(
                    ports.contains(&"clock"),
                    "a pad-fed PLL in a netlist without a clock port"
                );
                out.push_str("  .PACKAGEPIN(clock),\n");
            }
            None => {
                out.push_str(
                    &line
                        .replace("SB_PLL40_CORE #(", "fs_sim_pll #(")
                        .replace("SB_PLL40_PAD #(", "fs_sim_pad_pll #("),
                );
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// Yosys's cell models of `family` (`ice40`, `ecp5`): from `yosys-config --datdir`, or
/// beside the yosys binary.
pub fn cell_models(family: &str) -> Result<String> {
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
        let folder = dir.join(family);
        if let Ok(text) = std::fs::read_to_string(folder.join("cells_sim.v")) {
            // (ECP5's models include files beside them: inlined, as Verilator gets one file.)
            let mut inlined = String::with_capacity(text.len());
            for line in text.lines() {
                match line.trim().strip_prefix("`include \"") {
                    Some(rest) => {
                        let name = rest.trim_end_matches('"');
                        let included =
                            std::fs::read_to_string(folder.join(name)).with_context(|| {
                                format!("reading {name}, which cells_sim.v includes")
                            })?;
                        inlined.push_str(&included);
                    }
                    None => inlined.push_str(line),
                }
                inlined.push('\n');
            }
            return Ok(inlined);
        }
    }
    bail!(
        "yosys's cell models ({family}/cells_sim.v) were not found (looked in {:?}): \
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
                       SB_PLL40_CORE #(\n) PLL_1 (\n);\n\
                       SB_PLL40_PAD #(\n) PLL_2 (\n  .PACKAGEPIN(n7),\n);\n\
                       endmodule\n";
        let out = for_verilator(netlist).unwrap();
        assert!(out.contains("wire n3;\n"), "{out}");
        assert!(out.contains("reg n1 = 0, n2 = 0;\n"), "{out}");
        assert!(!out.contains("wire leds_0"), "{out}");
        assert!(out.contains("fs_sim_pll #(\n) PLL_1"), "{out}");
        assert!(
            out.contains("fs_sim_pad_pll #(\n) PLL_2 (\n  .PACKAGEPIN(clock),\n"),
            "{out}"
        );
        assert!(for_verilator("wire a;\n").is_err());
    }

    #[test]
    fn block_ram_modes_the_stand_in_does_not_model_are_refused() {
        let ram = |width: &str, regmode: &str| {
            format!(
                "  DP16KD #(\n    .DATA_WIDTH_A({width}),\n    .REGMODE_A(\"{regmode}\"),\n    \
                 .WRITEMODE_B(\"READBEFOREWRITE\")\n  ) ram (\n"
            )
        };
        for width in ["32'd1", "32'd2", "32'd4", "32'd9", "32'd18"] {
            assert!(check_dp16kd_modes(&ram(width, "NOREG")).is_ok());
        }
        let e = check_dp16kd_modes(&ram("32'd8", "NOREG")).unwrap_err();
        assert!(format!("{e}").contains("DATA_WIDTH_A = 32'd8"), "{e}");
        // 36 bits on both ports, or on neither.
        let e = check_dp16kd_modes(&ram("32'd36", "NOREG")).unwrap_err();
        assert!(format!("{e}").contains("one 36-bit port"), "{e}");
        let pair =
            ram("32'd36", "NOREG").replace(".REGMODE_A", ".DATA_WIDTH_B(32'd36),\n    .REGMODE_A");
        assert!(check_dp16kd_modes(&pair).is_ok(), "{pair}");
        let e = check_dp16kd_modes(&ram("32'd9", "OUTREG")).unwrap_err();
        assert!(format!("{e}").contains("REGMODE_A = \"OUTREG\""), "{e}");
    }

    #[test]
    fn multiplier_modes_the_model_does_not_model_are_refused() {
        let multiplier = |parameter: &str| {
            format!(
                "  MULT18X18D #(\n    .REG_INPUTA_CLK(\"CLK0\"),\n    {parameter}\n  ) dsp (\n    \
                 .A0(a[0]),\n"
            )
        };
        assert!(check_mult18x18d_modes(&multiplier(".REG_OUTPUT_CLK(\"CLK0\")")).is_ok());
        assert!(check_mult18x18d_modes(&multiplier(".REG_INPUTB_CLK(\"NONE\")")).is_ok());
        let e = check_mult18x18d_modes(&multiplier(".REG_PIPELINE_CLK(\"CLK0\")")).unwrap_err();
        assert!(
            format!("{e}").contains("REG_PIPELINE_CLK = \"CLK0\""),
            "{e}"
        );
        let e = check_mult18x18d_modes(&multiplier(".REG_OUTPUT_CLK(\"CLK1\")")).unwrap_err();
        assert!(format!("{e}").contains("REG_OUTPUT_CLK = \"CLK1\""), "{e}");
    }

    #[test]
    fn pin_files_lose_nowarn_and_brackets() {
        assert_eq!(
            icebox_pin_file("set_io -nowarn clock 35\nset_io leds[7] N14"),
            "set_io clock 35\nset_io leds_7 N14"
        );
    }
}
