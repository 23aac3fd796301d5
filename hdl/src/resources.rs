//! Resources of an accelerator before synthesis (`fpga-host plan`).
//!
//! - **Block RAMs** are counted from the memories the generated Verilog declares (every
//!   [`crate::core::bram::Bram`] and [`crate::core::field_bram::FieldBram`]: its width, words
//!   and whether it asks for LUT RAM), each mapped as yosys maps it: to the one configuration
//!   of the family's block RAM that needs the fewest blocks, or to LUT RAM slices when it asks
//!   for them and the target has LUT RAM. So the count follows the RTL, not a formula of it.
//! - **LUTs** are the LUT RAM's (exact, four LUTs per 16x4 ECP5 slice), a LUT per 16 bits of
//!   ROM built from logic, and the rest from a linear model per family, fitted by least
//!   squares to the `scripts/synth` reports in `resources/measured.json`: a constant and a
//!   cost per lane bit (each lane's datapath is as wide as the model's membrane).
//! - **DSPs**: none (the datapath shifts; every measured report has 0).

use crate::fpga::{Family, Part};
use anyhow::{Result, bail, ensure};
use serde::{Deserialize, Serialize};

/// A synthesis target of `scripts/synth`: the part, what it holds, and the clock the flow
/// asks for.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Target {
    pub name: &'static str,
    pub part: Part,
    pub luts: usize,
    pub block_rams: usize,
    pub dsps: usize,
    pub clock_mhz: f64,
}

/// The targets of `scripts/synth` (the same names and clocks).
pub const TARGETS: [Target; 4] = [
    Target {
        name: "ice40-up5k",
        part: Part::ICE40_UP5K,
        luts: 5_280,
        block_rams: 30,
        dsps: 8,
        clock_mhz: 40.0,
    },
    Target {
        name: "ice40-hx8k",
        part: Part::ICE40_HX8K_CB132,
        luts: 7_680,
        block_rams: 32,
        dsps: 0,
        clock_mhz: 60.0,
    },
    Target {
        name: "ecp5-25k",
        part: Part::new(Family::Ecp5, "25k", "CABGA381", true),
        luts: 24_288,
        block_rams: 56,
        dsps: 28,
        clock_mhz: 100.0,
    },
    Target {
        name: "ecp5-85k",
        part: Part::ECP5_85K,
        luts: 83_640,
        block_rams: 208,
        dsps: 156,
        clock_mhz: 100.0,
    },
];

pub fn target(name: &str) -> Result<&'static Target> {
    match TARGETS.iter().find(|t| t.name == name) {
        Some(t) => Ok(t),
        None => bail!(
            "unknown target {name:?}: one of {}",
            TARGETS.map(|t| t.name).join(", ")
        ),
    }
}

impl Target {
    /// Whether the target has LUT RAM, so that generated Verilog asks for it (as
    /// `scripts/synth` does).
    pub fn lut_ram(&self) -> bool {
        self.part.family != Family::Ice40
    }
}

/// Which part of the design a memory belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Owner {
    /// Layer `l`'s lanes and tables.
    Layer(usize),
    /// The input encoder, the link, the shell: what no layer's lanes change.
    Fixed,
}

/// A memory of the generated Verilog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Memory {
    pub owner: Owner,
    pub width: usize,
    pub words: usize,
    /// It asks for LUT RAM (`ram_style = "distributed"`).
    pub distributed: bool,
    /// Only the run-time load writes it (weights, kernels, tables), which the pin shell of
    /// `scripts/synth` ties off: a ROM to synthesis.
    pub rom: bool,
}

/// The memories that `verilog` (RustHDL's output for a design with [`crate::core::bram`]
/// memories) declares, each attributed to the layer in whose module path it sits. The
/// accelerator keeps its layers by kind (`pixel_convs`, `convs`, `layers` for dense ones, in
/// model order within each); `pixel` says whether the first layer is computed from pixels and
/// `first_dense` is the model index of the first dense layer.
pub fn memories(verilog: &str, pixel: bool, first_dense: usize) -> Vec<Memory> {
    let mut out: Vec<Memory> = Vec::new();
    let mut module = "";
    let mut attributes = "";
    for line in verilog.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("module ") {
            module = rest.split(['(', ' ']).next().unwrap_or("");
        } else if let Some(path) = line
            .strip_prefix("$readmemh(\"")
            .and_then(|r| r.split('"').next())
        {
            // A ROM's constant bit columns are no memory to synthesis (yosys trims them).
            if let Some(m) = out.last_mut().filter(|m| m.rom) {
                if let Ok(text) = std::fs::read_to_string(path) {
                    m.width = varying_columns(&text, m.width);
                }
            }
        } else if line.starts_with("(*") {
            attributes = line;
        } else if let Some((width, words)) = declaration(line) {
            out.push(Memory {
                owner: owner(module, pixel, first_dense),
                width,
                words,
                distributed: attributes.contains("distributed"),
                rom: rom(module),
            });
            attributes = "";
        } else {
            attributes = "";
        }
    }
    out
}

/// The bit columns of a memory's contents (hex words, one a line) that are not the same in
/// every word: at least 1.
fn varying_columns(contents: &str, width: usize) -> usize {
    let words: Vec<Vec<bool>> = contents
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            // Hex digits from the least significant, as bits.
            (0..width)
                .map(|b| {
                    let digit = l.len().checked_sub(1 + b / 4).and_then(|i| l.get(i..=i));
                    let v = digit
                        .and_then(|d| u8::from_str_radix(d, 16).ok())
                        .unwrap_or(0);
                    v >> (b % 4) & 1 == 1
                })
                .collect()
        })
        .collect();
    let Some(first) = words.first() else {
        return width;
    };
    let varying = (0..width)
        .filter(|&b| words.iter().any(|w| w[b] != first[b]))
        .count();
    varying.max(1)
}

/// `reg [T:0] mem [0:L];` as (T + 1, L + 1).
fn declaration(line: &str) -> Option<(usize, usize)> {
    let rest = line.strip_prefix("reg [")?;
    let (top, rest) = rest.split_once(":0] mem [0:")?;
    let last = rest.strip_suffix("];")?;
    Some((
        top.parse::<usize>().ok()? + 1,
        last.parse::<usize>().ok()? + 1,
    ))
}

/// Whether a memory's module holds contents only the run-time load writes: a lane's or a
/// pixel convolution's weights, a convolution's kernels and sender and entry tables, a pixel
/// convolution's initial membranes.
fn rom(module: &str) -> bool {
    let names: Vec<&str> = module
        .split('$')
        .filter(|p| p.parse::<usize>().is_err())
        .collect();
    matches!(
        names.last().copied(),
        Some("weights" | "kernels" | "sender_table" | "entry_tables" | "inits")
    )
}

/// The model layer of a module path such as `top$accelerator$layers$1$lanes$3$weights`.
fn owner(module: &str, pixel: bool, first_dense: usize) -> Owner {
    let parts: Vec<&str> = module.split('$').collect();
    parts
        .windows(2)
        .find_map(|w| {
            let i: usize = w[1].parse().ok()?;
            match w[0] {
                "pixel_convs" => Some(Owner::Layer(i)),
                "convs" => Some(Owner::Layer(i + usize::from(pixel))),
                "layers" => Some(Owner::Layer(i + first_dense)),
                _ => None,
            }
        })
        .unwrap_or(Owner::Fixed)
}

/// Where synthesis puts a memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Mapping {
    BlockRams(usize),
    /// 16x4 LUT RAM slices (ECP5).
    LutRam(usize),
    /// Logic: LUTs (a ROM) or flip-flops.
    Logic,
}

/// yosys's choice for one memory on `target` (`memory_libmap`, as yosys 0.23 and later cost
/// them): the cheapest of the family's block RAM (`cost` 64 a SB_RAM40_4K, 128 a DP16KD, from
/// yosys's brams.txt), LUT RAM for memories the design writes (4 a slice, lutrams.txt; forced
/// by `ram_style = "distributed"`), and logic (1 a bit for a RAM, 1/16 a bit for a ROM), logic
/// winning ties. Checked against every memory of the measured designs' synthesis logs.
pub fn map_memory(memory: &Memory, target: &Target) -> Mapping {
    let has_lut_ram = target.lut_ram();
    if memory.distributed && has_lut_ram {
        return Mapping::LutRam(slices(memory));
    }
    let depth = memory.words.next_power_of_two().max(2);
    let (configs, block_cost): (&[(usize, usize)], f64) = match target.part.family {
        Family::Ice40 => (&[(256, 16), (512, 8), (1024, 4), (2048, 2)], 64.0),
        Family::Ecp5 | Family::Xilinx7 => (
            &[
                (512, 36),
                (1024, 18),
                (2048, 9),
                (4096, 4),
                (8192, 2),
                (16384, 1),
            ],
            128.0,
        ),
    };
    let blocks = block_count(depth, memory.width, configs);
    let bits = (memory.words * memory.width) as f64;
    let logic = if memory.rom { bits / 16.0 } else { bits };
    let lut_ram = (has_lut_ram && !memory.rom).then(|| 4.0 * slices(memory) as f64);
    let block = blocks as f64 * block_cost;
    if logic <= block && lut_ram.is_none_or(|l| logic <= l) {
        Mapping::Logic
    } else if lut_ram.is_some_and(|l| l < block) {
        Mapping::LutRam(slices(memory))
    } else {
        Mapping::BlockRams(blocks)
    }
}

/// The fewest blocks of `configs` (depth, width) that hold `width` bits by `depth` words:
/// columns of one configuration, and the bits left over in another (yosys builds a 22-bit,
/// 4,096-word ROM of two 2048x9 columns and one 4096x4 block: five DP16KD, not six).
fn block_count(depth: usize, width: usize, configs: &[(usize, usize)]) -> usize {
    let mut best = usize::MAX;
    for &(da, wa) in configs {
        for columns in 0..=width.div_ceil(wa) {
            let left = width.saturating_sub(columns * wa);
            let rest = configs
                .iter()
                .map(|&(db, wb)| depth.div_ceil(db) * left.div_ceil(wb))
                .min()
                .unwrap_or(0);
            best = best.min(columns * depth.div_ceil(da) + rest);
        }
    }
    best
}

fn slices(memory: &Memory) -> usize {
    memory.words.div_ceil(16) * memory.width.div_ceil(4)
}

/// LUTs of one LUT RAM slice, as `scripts/synth_report.py` counts them.
pub const LUTS_PER_SLICE: usize = 4;

/// What the design asks of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Estimate {
    pub block_rams: usize,
    /// Per owner: the input encoder and link (`Fixed`) and every layer.
    pub block_rams_by_layer: Vec<usize>,
    pub lut_ram_luts: usize,
    /// ROM bits synthesis builds from logic.
    pub rom_logic_bits: usize,
    pub logic_luts: usize,
    pub luts: usize,
    /// Multipliers (DSP blocks: yosys maps every one of them to one).
    pub dsps: usize,
}

/// The LUT model's features: the lane bits (lanes times the membrane width) of the
/// convolution layers (the first `conv_layers`) and of the dense layers, and the bits of ROM
/// built from logic.
pub fn lut_features(
    lanes: &[usize],
    conv_layers: usize,
    membrane_bits: usize,
    rom_bits: usize,
) -> [f64; 3] {
    let split = conv_layers.min(lanes.len());
    let bits = |l: &[usize]| (l.iter().sum::<usize>() * membrane_bits) as f64;
    [
        bits(&lanes[..split]),
        bits(&lanes[split..]),
        rom_bits as f64,
    ]
}

/// A `scripts/synth` report the LUT model is fitted to.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Measured {
    pub target: String,
    pub model: String,
    pub lanes: Vec<usize>,
    pub membrane_bits: usize,
    /// Convolution layers (the first ones).
    pub conv_layers: usize,
    /// LUTs as the report counts them (LUT RAM included).
    pub luts: usize,
    pub lut_ram_luts: usize,
    /// ROM bits built from logic (the synthesis log's `Mapping memory ... in module`).
    pub rom_logic_bits: usize,
    pub block_rams: usize,
    /// DSP blocks (multipliers).
    pub dsps: usize,
    pub cycles_per_image: f64,
    /// Test images the cycles were counted on (the report's `images_verified`; records
    /// without it were measured with `SYNTH_IMAGES=300`).
    #[serde(default = "images_before_the_field")]
    pub images: usize,
}

fn images_before_the_field() -> usize {
    300
}

/// The reports `fpga-host plan` is fitted to (see docs/accelerator.md, "Planning").
pub fn measured() -> Vec<Measured> {
    serde_json::from_str(include_str!("resources/measured.json"))
        .expect("resources/measured.json is valid (checked by a test)")
}

/// LUTs per ROM bit built from logic: a LUT4 holds 16 bits (yosys costs logic ROM the same).
pub const LUTS_PER_ROM_BIT: f64 = 1.0 / 16.0;

/// Logic LUTs = c0 + c1 convolution lane bits + c2 dense lane bits + ROM bits / 16, per
/// family: c0, c1 and c2 fitted to `measured` by least squares (a feature no report of the
/// family has is left at 0). Returns `[c0, c1, c2, 1/16]`.
pub fn lut_model(family: Family, measured: &[Measured]) -> Result<[f64; 4]> {
    let rows: Vec<([f64; 3], f64)> = measured
        .iter()
        .filter(|m| target(&m.target).is_ok_and(|t| t.part.family == family))
        .map(|m| {
            let [conv, dense, rom] =
                lut_features(&m.lanes, m.conv_layers, m.membrane_bits, m.rom_logic_bits);
            let logic = (m.luts - m.lut_ram_luts) as f64 - rom * LUTS_PER_ROM_BIT;
            ([1.0, conv, dense], logic)
        })
        .collect();
    let used: Vec<usize> = (0..3)
        .filter(|&f| f == 0 || rows.iter().any(|r| r.0[f] != 0.0))
        .collect();
    ensure!(
        rows.len() > used.len(),
        "the LUT model of {family:?} needs more measured reports than its {} coefficients, it \
         has {}",
        used.len(),
        rows.len()
    );
    // Normal equations, solved by Gauss-Jordan elimination with partial pivoting.
    let k = used.len();
    let mut a = vec![vec![0.0f64; k + 1]; k];
    for (x, y) in &rows {
        for (i, &fi) in used.iter().enumerate() {
            for (j, &fj) in used.iter().enumerate() {
                a[i][j] += x[fi] * x[fj];
            }
            a[i][k] += x[fi] * y;
        }
    }
    for col in 0..k {
        let pivot = (col..k)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .unwrap_or(col);
        a.swap(col, pivot);
        ensure!(
            a[col][col].abs() > 1e-9,
            "the measured reports of {family:?} do not determine the LUT model (vary the lanes)"
        );
        let pivot_row = a[col].clone();
        for (row, values) in a.iter_mut().enumerate() {
            if row != col {
                let f = values[col] / pivot_row[col];
                for (v, p) in values.iter_mut().zip(&pivot_row) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut model = [0.0, 0.0, 0.0, LUTS_PER_ROM_BIT];
    for (i, &f) in used.iter().enumerate() {
        model[f] = a[i][k] / a[i][i];
    }
    Ok(model)
}

/// Resources of a design (`lanes` per layer) whose Verilog declares `memories`, on `target`.
pub fn estimate(
    memories: &[Memory],
    lanes: &[usize],
    conv_layers: usize,
    membrane_bits: usize,
    multipliers: usize,
    target: &Target,
    model: [f64; 4],
) -> Estimate {
    let layers = lanes.len();
    let mut block_rams_by_layer = vec![0; layers + 1];
    let mut slices = 0;
    let mut rom_bits = 0;
    for m in memories {
        let slot = match m.owner {
            Owner::Fixed => 0,
            Owner::Layer(l) => (l + 1).min(layers),
        };
        match map_memory(m, target) {
            Mapping::BlockRams(n) => block_rams_by_layer[slot] += n,
            Mapping::LutRam(n) => slices += n,
            // ROM built from logic: the LUT model's third feature.
            Mapping::Logic if m.rom => rom_bits += m.words * m.width,
            Mapping::Logic => {}
        }
    }
    let [conv, dense, rom] = lut_features(lanes, conv_layers, membrane_bits, rom_bits);
    let logic = (model[0] + model[1] * conv + model[2] * dense + model[3] * rom)
        .max(0.0)
        .round() as usize;
    let lut_ram_luts = slices * LUTS_PER_SLICE;
    Estimate {
        block_rams: block_rams_by_layer.iter().sum(),
        block_rams_by_layer,
        lut_ram_luts,
        rom_logic_bits: rom_bits,
        logic_luts: logic,
        luts: logic + lut_ram_luts,
        dsps: multipliers,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_and_owners_are_read() {
        let v = "module top$accelerator$layers$1$lanes$3$weights(\n\
                 (* no_rw_check, ram_style = \"distributed\" *)\n\
                 reg [6:0] mem [0:63];\n\
                 endmodule\n\
                 module top$accelerator$encoders$0$planes_a$0(\n\
                 (* no_rw_check *)\n\
                 reg [7:0] mem [0:511];\n";
        assert_eq!(
            memories(v, false, 0),
            vec![
                Memory {
                    owner: Owner::Layer(1),
                    width: 7,
                    words: 64,
                    distributed: true,
                    rom: true
                },
                Memory {
                    owner: Owner::Fixed,
                    width: 8,
                    words: 512,
                    distributed: false,
                    rom: false
                }
            ]
        );
    }

    #[test]
    fn memories_map_as_yosys_maps_them() {
        let m = |width, words, distributed, rom| Memory {
            owner: Owner::Fixed,
            width,
            words,
            distributed,
            rom,
        };
        let up5k = target("ice40-up5k").unwrap();
        let ecp5 = target("ecp5-85k").unwrap();
        // A RAM of 18 bits x 16 words: two 256x16 blocks (cost 128) beat 288 bits of logic.
        assert_eq!(
            map_memory(&m(18, 16, false, false), up5k),
            Mapping::BlockRams(2)
        );
        assert_eq!(
            map_memory(&m(8, 512, false, false), up5k),
            Mapping::BlockRams(1)
        );
        // A ROM of 1 kbit costs 64 as logic, as much as a block: logic wins the tie; 2 kbit
        // go to a block.
        assert_eq!(map_memory(&m(8, 128, false, true), up5k), Mapping::Logic);
        assert_eq!(
            map_memory(&m(8, 256, false, true), up5k),
            Mapping::BlockRams(1)
        );
        // LUT RAM where the target has it: asked for, or cheaper than a block for a RAM.
        assert_eq!(
            map_memory(&m(18, 40, true, false), up5k),
            Mapping::BlockRams(2)
        );
        assert_eq!(
            map_memory(&m(18, 40, true, false), ecp5),
            Mapping::LutRam(15)
        );
        assert_eq!(
            map_memory(&m(7, 64, false, false), ecp5),
            Mapping::LutRam(8)
        );
        assert_eq!(map_memory(&m(8, 64, false, true), ecp5), Mapping::Logic);
        // 23 bits x 2048 words: three 2048x9 blocks (not four 1024x18).
        assert_eq!(
            map_memory(&m(23, 2048, false, false), ecp5),
            Mapping::BlockRams(3)
        );
    }

    #[test]
    fn the_measured_reports_parse_and_determine_both_families_models() {
        let measured = measured();
        for family in [Family::Ice40, Family::Ecp5] {
            let [c0, conv, dense, rom] = lut_model(family, &measured).unwrap();
            assert!(
                dense > 0.0 && conv >= 0.0 && rom > 0.0,
                "{family:?}: {c0} {conv} {dense} {rom}"
            );
        }
    }
}
