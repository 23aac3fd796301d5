//! A fast simulation of the accelerator's generated Verilog: Verilator compiles it, with a
//! wrapper that brings every spike bus out, and a C++ testbench that runs the same per-cycle
//! loop as [`crate::sim::rusthdl::accelerator::run_images`]. Builds are cached by a hash of the Verilog.

use super::verilate;
use crate::core::accelerator::{Accelerator, pixel_words};
use crate::sim::compare::ImageRun;
use anyhow::{Context, Result, bail, ensure};
use rust_hdl::prelude::generate_verilog;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TESTBENCH: &str = include_str!("tb.cpp");

/// A compiled Verilator simulation of one accelerator.
pub struct VerilatedAccelerator {
    binary: PathBuf,
    stages: usize,
    first_bus: usize,
    traced: bool,
}

/// The wrapper: the accelerator's ports, plus each spike bus's transfers as outputs.
fn probe_top(stages: usize) -> String {
    let mut ports = String::new();
    let mut assigns = String::new();
    for s in 0..stages {
        // Stage s's input FIFO takes what stage s - 1 (the encoder for s = 0) sends.
        let prefix = format!("fifos${s}$in");
        let (valid, ready) = (format!("{prefix}_valid"), format!("{prefix}_ready"));
        ports += &format!(
            "    output wire s{s}_fire, output wire s{s}_last, output wire [15:0] s{s}_index, output wire [4:0] s{s}_step,\n"
        );
        assigns += &format!(
            "    assign s{s}_fire = dut.{valid} & dut.{ready};\n    assign s{s}_last = dut.{prefix}_last;\n    assign s{s}_index = dut.{prefix}_index;\n    assign s{s}_step = dut.{prefix}_step;\n"
        );
    }
    format!(
        "module probe_top(\n    input wire clock, input wire pixel_valid, input wire [15:0] pixel_zeros, input wire [15:0] pixel_value, output wire pixel_ready,\n{ports}    output wire result_valid, output wire [15:0] result_index, output wire [31:0] result_logit,\n    output wire result_last, output wire [15:0] result_class, input wire result_ready);\n    top dut(.clock(clock), .pixel_valid(pixel_valid), .pixel_zeros(pixel_zeros), .pixel_value(pixel_value), .pixel_ready(pixel_ready),\n        .result_valid(result_valid), .result_index(result_index), .result_logit(result_logit),\n        .result_last(result_last), .result_class(result_class), .result_ready(result_ready));\n{assigns}endmodule\n"
    )
}

fn testbench(stages: usize) -> String {
    let probes: String = (0..stages)
        .map(|s| {
            format!(
                "        if (top->s{s}_fire) {{ if (top->s{s}_last) put(1, {s}, (uint32_t)cycle); else put(0, {s}, top->s{s}_index | (top->s{s}_step << 16)); }}\n"
            )
        })
        .collect();
    TESTBENCH.replace("PROBES\n", &probes)
}

impl VerilatedAccelerator {
    /// Generates, wraps and compiles `accel` under `cache` (reused when the design is the
    /// same). Needs `verilator`, `make` and a C++ compiler.
    pub fn build(accel: &mut Accelerator, cache: &Path) -> Result<Self> {
        Self::build_with(accel, cache, false)
    }

    /// As [`Self::build`], with VCD tracing built in, for [`Self::run_traced`].
    pub fn build_traced(accel: &mut Accelerator, cache: &Path) -> Result<Self> {
        Self::build_with(accel, cache, true)
    }

    fn build_with(accel: &mut Accelerator, cache: &Path, trace: bool) -> Result<Self> {
        crate::sim::checked(accel)?;
        let stages = accel.fifos.len() - 1;
        let verilog = generate_verilog(accel);
        let (wrapper, bench) = (probe_top(stages), testbench(stages));
        let binary = verilate(
            cache,
            &[
                ("probe_top.v", &wrapper),
                ("fs_accel.v", &verilog),
                ("tb.cpp", &bench),
            ],
            "probe_top",
            &[],
            trace,
        )?;
        Ok(VerilatedAccelerator {
            binary,
            stages,
            first_bus: accel.pixel_convs.len(),
            traced: trace,
        })
    }

    /// Runs `images` as [`Self::run`] does and writes every signal of the design, cycle by
    /// cycle, to the VCD file `vcd` (signals named as in the generated Verilog: the design's
    /// own names). Needs a build from [`Self::build_traced`].
    pub fn run_traced(
        &self,
        images: &[&[u8]],
        max_cycles: u64,
        vcd: &Path,
        on_image: &mut dyn FnMut(usize, ImageRun) -> Result<()>,
    ) -> Result<usize> {
        ensure!(
            self.traced,
            "this Verilator build has no tracing: build_traced it"
        );
        self.run_with(images, max_cycles, Some(vcd), on_image)
    }

    /// Runs images through the compiled design. `on_image(n, run)` gets every image as soon as
    /// its class leaves the accelerator, so long runs need not hold every spike in memory.
    pub fn run(
        &self,
        images: &[&[u8]],
        max_cycles: u64,
        on_image: &mut dyn FnMut(usize, ImageRun) -> Result<()>,
    ) -> Result<usize> {
        self.run_with(images, max_cycles, None, on_image)
    }

    fn run_with(
        &self,
        images: &[&[u8]],
        max_cycles: u64,
        vcd: Option<&Path>,
        on_image: &mut dyn FnMut(usize, ImageRun) -> Result<()>,
    ) -> Result<usize> {
        ensure!(!images.is_empty(), "no images");
        let pixels = images[0].len();
        // The pixel port's words (`pixel_words`), one u32 each: zeros | value << 16.
        let mut words = Vec::new();
        for image in images {
            ensure!(image.len() == pixels, "images of different sizes");
            words.extend(
                pixel_words(image)
                    .into_iter()
                    .map(|(zeros, value)| u32::from(zeros) | u32::from(value) << 16),
            );
        }
        let mut file = Vec::with_capacity(8 + 4 * words.len());
        file.extend((images.len() as u32).to_le_bytes());
        file.extend((words.len() as u32).to_le_bytes());
        file.extend(words.iter().flat_map(|w| w.to_le_bytes()));
        let input = std::env::temp_dir().join(format!("fs-verilator-{}.bin", std::process::id()));
        std::fs::write(&input, &file)?;
        let mut child = Command::new(&self.binary)
            .arg(&input)
            .arg(max_cycles.to_string())
            .args(vcd)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        let mut out = BufReader::with_capacity(1 << 20, child.stdout.take().expect("piped"));
        // Per stage, the image its bus is carrying; images complete in order.
        let mut carrying = vec![0usize; self.stages];
        let mut pending: std::collections::VecDeque<ImageRun> = Default::default();
        let mut done = 0;
        let mut record = [0u8; 12];
        let result = (|| -> Result<()> {
            while out.read_exact(&mut record).is_ok() {
                let word =
                    |i: usize| u32::from_le_bytes(record[4 * i..4 * i + 4].try_into().unwrap());
                let (kind, a, b) = (word(0), word(1), word(2));
                let slot =
                    |n: usize, pending: &mut std::collections::VecDeque<ImageRun>| -> usize {
                        while pending.len() <= n - done {
                            pending.push_back(ImageRun {
                                spikes: vec![Vec::new(); self.stages],
                                first_bus: self.first_bus,
                                ..Default::default()
                            });
                        }
                        n - done
                    };
                match kind {
                    0 => {
                        let s = a as usize;
                        let i = slot(carrying[s], &mut pending);
                        pending[i].spikes[s].push((b & 0xffff, b >> 16));
                    }
                    1 => {
                        let s = a as usize;
                        let i = slot(carrying[s], &mut pending);
                        pending[i].stage_done.push(b as u64);
                        carrying[s] += 1;
                    }
                    2 => {
                        let i = slot(done, &mut pending);
                        pending[i].logits.push(b as i32 as i64);
                    }
                    3 => {
                        slot(done, &mut pending);
                        let mut run = pending.pop_front().expect("a slot");
                        run.class = a as usize;
                        run.done_cycle = b as u64;
                        on_image(done, run)?;
                        done += 1;
                    }
                    other => bail!("unknown record kind {other} from the simulation"),
                }
            }
            Ok(())
        })();
        let status = child.wait()?;
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            e.read_to_string(&mut stderr).ok();
        }
        std::fs::remove_file(&input).ok();
        result?;
        if !status.success() {
            bail!(
                "the Verilator simulation stopped after {done} of {} images ({status}): {}",
                images.len(),
                stderr.trim()
            );
        }
        Ok(done)
    }
}
