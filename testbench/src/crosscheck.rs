//! Cycle-accurate cross-check of a RustHDL block against the Verilog RustHDL generates for it.
//!
//! RustHDL's simulation runs the Rust model of a block, but the FPGA gets the Verilog from
//! `generate_verilog`, and the two can disagree (operator precedence, 32-bit literals, carries
//! kept by wider Verilog intermediates: see `rusthdl.md` in the shared notes). So every RTL
//! block is run on the same input vectors both in RustHDL and, as Verilog, under iverilog, and
//! the outputs must agree bit for bit on every cycle.
//!
//! Both sides sample identically. Per cycle: the inputs are applied while the clock is low, the
//! design settles, the outputs are sampled, then the clock rises (registers update) and falls.
//! No reset is applied: RustHDL gives registers their power-up values in `initial` blocks.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, anyhow, bail, ensure};
use rust_hdl::core::prelude::{Block, generate_verilog, simulate};

/// Settle passes allowed per evaluation; a design needing more has a combinational loop.
const MAX_SETTLE_PASSES: usize = 1000;

/// A top-level port: its Verilog name and width in bits (1 to 64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub width: usize,
}

impl Port {
    pub fn new(name: &str, width: usize) -> Self {
        Self {
            name: name.to_string(),
            width,
        }
    }

    fn mask(&self, value: u64) -> u64 {
        value & (u64::MAX >> (64 - self.width))
    }

    fn hex_digits(&self) -> usize {
        self.width.div_ceil(4)
    }
}

/// One clock cycle: the inputs applied and the outputs sampled before the rising edge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    pub inputs: Vec<u64>,
    pub outputs: Vec<u64>,
}

/// Per-cycle stimulus and the outputs seen, one `u64` per port, masked to the port width.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trace {
    pub inputs: Vec<Port>,
    pub outputs: Vec<Port>,
    pub cycles: Vec<Cycle>,
}

/// The first disagreement between RustHDL simulation and the generated Verilog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub cycle: usize,
    pub port: String,
    pub rusthdl: u64,
    pub verilog: u64,
    /// The inputs applied in that cycle, by port name.
    pub inputs: Vec<(String, u64)>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cycle {}: output `{}` is {:#x} in RustHDL simulation but {:#x} in its Verilog (inputs:",
            self.cycle, self.port, self.rusthdl, self.verilog
        )?;
        for (name, value) in &self.inputs {
            write!(f, " {name}={value:#x}")?;
        }
        write!(f, ")")
    }
}

impl std::error::Error for Mismatch {}

/// Drives a RustHDL block with a plain loop (see the module doc for the sampling order).
///
/// `apply` sets the inputs from one masked vector, `sample` reads the outputs in the order of
/// `outputs`, and `clock` sets the clock input.
pub fn simulate_rusthdl<U: Block>(
    uut: &mut U,
    inputs: &[Port],
    outputs: &[Port],
    vectors: &[Vec<u64>],
    mut apply: impl FnMut(&mut U, &[u64]),
    sample: impl Fn(&U) -> Vec<u64>,
    mut clock: impl FnMut(&mut U, bool),
) -> anyhow::Result<Trace> {
    check_ports(inputs, outputs, vectors)?;
    fs_hdl::sim::checked(uut)?;
    let mut cycles = Vec::with_capacity(vectors.len());
    for (cycle, vector) in vectors.iter().enumerate() {
        let applied: Vec<u64> = inputs.iter().zip(vector).map(|(p, &v)| p.mask(v)).collect();
        apply(uut, &applied);
        settle(uut, cycle)?;
        let seen = sample(uut);
        ensure!(
            seen.len() == outputs.len(),
            "`sample` returned {} values for {} output ports",
            seen.len(),
            outputs.len()
        );
        let seen = outputs.iter().zip(seen).map(|(p, v)| p.mask(v)).collect();
        for level in [true, false] {
            clock(uut, level);
            settle(uut, cycle)?;
        }
        cycles.push(Cycle {
            inputs: applied,
            outputs: seen,
        });
    }
    Ok(Trace {
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        cycles,
    })
}

/// Runs the same vectors through `verilog` (the output of `generate_verilog`: module `top`,
/// clock port `clock`) under iverilog and returns the outputs sampled at the same points.
pub fn simulate_verilog(
    verilog: &str,
    inputs: &[Port],
    outputs: &[Port],
    vectors: &[Vec<u64>],
) -> anyhow::Result<Vec<Vec<u64>>> {
    check_ports(inputs, outputs, vectors)?;
    let dir = TempDir::new()?;
    fs::write(dir.0.join("top.v"), verilog)?;
    fs::write(
        dir.0.join("tb.v"),
        testbench(inputs, outputs, vectors.len(), has_clock(verilog)),
    )?;
    fs::write(dir.0.join("inputs.hex"), input_file(inputs, vectors))?;
    let warnings = run(
        Command::new("iverilog").current_dir(&dir.0).args([
            "-g2012",
            "-s",
            "crosscheck_tb",
            "-o",
            "sim.vvp",
            "tb.v",
            "top.v",
        ]),
        "compiling the Verilog",
    )?;
    run(
        Command::new("vvp")
            .current_dir(&dir.0)
            .args(["-n", "sim.vvp"]),
        "simulating the Verilog",
    )?;
    let text = fs::read_to_string(dir.0.join("outputs.hex"))
        .context("the Verilog simulation wrote no outputs")?;
    // iverilog's warnings often explain an undefined output (e.g. an `always @(*)` that reads
    // only constants never runs), so they go with any error about the outputs.
    parse_outputs(&text, outputs, vectors.len()).map_err(|e| match warnings.trim() {
        "" => e,
        warnings => anyhow!("{e}\niverilog warned:\n{warnings}"),
    })
}

/// Simulates `uut` in RustHDL and its generated Verilog under iverilog on the same vectors and
/// compares every output on every cycle. A disagreement is returned as a [`Mismatch`] error
/// (downcast the `anyhow::Error` to inspect it); on agreement, the RustHDL trace is returned.
pub fn cross_check<U: Block>(
    uut: &mut U,
    inputs: &[Port],
    outputs: &[Port],
    vectors: &[Vec<u64>],
    apply: impl FnMut(&mut U, &[u64]),
    sample: impl Fn(&U) -> Vec<u64>,
    clock: impl FnMut(&mut U, bool),
) -> anyhow::Result<Trace> {
    // `generate_verilog` panics on an unchecked design; `checked` turns that into an error.
    fs_hdl::sim::checked(uut)?;
    let verilog = generate_verilog(uut);
    let trace = simulate_rusthdl(uut, inputs, outputs, vectors, apply, sample, clock)?;
    let verilog_outputs = simulate_verilog(&verilog, inputs, outputs, vectors)?;
    for (cycle, (seen, expected)) in trace.cycles.iter().zip(&verilog_outputs).enumerate() {
        let mut ports = outputs.iter().zip(&seen.outputs).zip(expected);
        if let Some(((port, &rusthdl), &verilog)) = ports.find(|((_, r), v)| r != v) {
            let names = inputs.iter().map(|p| p.name.clone());
            return Err(Mismatch {
                cycle,
                port: port.name.clone(),
                rusthdl,
                verilog,
                inputs: names.zip(seen.inputs.iter().copied()).collect(),
            }
            .into());
        }
    }
    Ok(trace)
}

fn check_ports(inputs: &[Port], outputs: &[Port], vectors: &[Vec<u64>]) -> anyhow::Result<()> {
    for port in inputs.iter().chain(outputs) {
        ensure!(
            (1..=64).contains(&port.width),
            "port `{}` is {} bits wide; 1 to 64 are supported",
            port.name,
            port.width
        );
    }
    ensure!(!outputs.is_empty(), "no output ports: nothing to compare");
    ensure!(!vectors.is_empty(), "no input vectors: nothing to compare");
    if let Some((cycle, v)) = vectors
        .iter()
        .enumerate()
        .find(|(_, v)| v.len() != inputs.len())
    {
        bail!(
            "vector {cycle} has {} values for {} input ports",
            v.len(),
            inputs.len()
        );
    }
    Ok(())
}

fn settle<U: Block>(uut: &mut U, cycle: usize) -> anyhow::Result<()> {
    ensure!(
        simulate(uut, MAX_SETTLE_PASSES),
        "RustHDL simulation did not settle in cycle {cycle} (combinational loop?)"
    );
    Ok(())
}

/// Whether module `top` has a `clock` port (combinational blocks have none): named in its
/// port list (`module top(clock, a)`, as RustHDL writes it) or declared there
/// (`module top(input clock, input a)`).
fn has_clock(verilog: &str) -> bool {
    verilog
        .split_once("module top(")
        .and_then(|(_, rest)| rest.split_once(')'))
        .is_some_and(|(ports, _)| {
            ports
                .split(',')
                .any(|p| p.split_whitespace().last() == Some("clock"))
        })
}

/// The Verilog testbench: reads one packed hex line per cycle from `inputs.hex`, each port in
/// a slot of whole hex digits (first port leftmost), and writes one line of hex outputs per cycle
/// to `outputs.hex`.
fn testbench(inputs: &[Port], outputs: &[Port], cycles: usize, clocked: bool) -> String {
    let packed_bits: usize = inputs.iter().map(|p| 4 * p.hex_digits()).sum();
    let mut decls = String::from("  reg clock = 0;\n  integer cycle, fd;\n");
    let mut connections: Vec<String> = Vec::new();
    if clocked {
        connections.push(".clock(clock)".to_string());
    }
    let mut apply = String::new();
    let mut low_bit = packed_bits;
    for (i, port) in inputs.iter().enumerate() {
        low_bit -= 4 * port.hex_digits();
        decls += &format!("  reg [{}:0] in{i};\n", port.width - 1);
        connections.push(format!(".{}(in{i})", port.name));
        apply += &format!(
            "      in{i} = vectors[cycle][{}:{low_bit}];\n",
            low_bit + port.width - 1
        );
    }
    if !inputs.is_empty() {
        decls += &format!(
            "  reg [{}:0] vectors [0:{}];\n",
            packed_bits - 1,
            cycles - 1
        );
    }
    for (i, port) in outputs.iter().enumerate() {
        decls += &format!("  wire [{}:0] out{i};\n", port.width - 1);
        connections.push(format!(".{}(out{i})", port.name));
    }
    let read = if inputs.is_empty() {
        ""
    } else {
        "    $readmemh(\"inputs.hex\", vectors);\n"
    };
    let format = vec!["%h"; outputs.len()].join(" ");
    let values: Vec<String> = (0..outputs.len()).map(|i| format!("out{i}")).collect();
    let (connections, values) = (connections.join(", "), values.join(", "));
    // Sample #1 after applying the inputs, before the clock rises in the same time step.
    format!(
        r#"module crosscheck_tb;
{decls}  top dut({connections});
  initial begin
{read}    fd = $fopen("outputs.hex", "w");
    for (cycle = 0; cycle < {cycles}; cycle = cycle + 1) begin
{apply}      #1 $fwrite(fd, "{format}\n", {values});
      clock = 1;
      #1 clock = 0;
      #1;
    end
    $fclose(fd);
    $finish;
  end
endmodule
"#
    )
}

fn input_file(inputs: &[Port], vectors: &[Vec<u64>]) -> String {
    let mut text = String::new();
    for vector in vectors {
        for (port, &value) in inputs.iter().zip(vector) {
            let digits = port.hex_digits();
            text += &format!("{:0digits$x}", port.mask(value));
        }
        text.push('\n');
    }
    text
}

fn parse_outputs(text: &str, outputs: &[Port], cycles: usize) -> anyhow::Result<Vec<Vec<u64>>> {
    let lines: Vec<&str> = text.lines().collect();
    ensure!(
        lines.len() == cycles,
        "the Verilog simulation wrote {} of {cycles} cycles",
        lines.len()
    );
    let mut all = Vec::with_capacity(cycles);
    for (cycle, line) in lines.into_iter().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        ensure!(
            fields.len() == outputs.len(),
            "cycle {cycle}: expected {} Verilog outputs, got `{line}`",
            outputs.len()
        );
        let mut values = Vec::with_capacity(outputs.len());
        for (port, field) in outputs.iter().zip(fields) {
            // Any x or z bit is a disagreement: RustHDL has only 0 and 1.
            let value = u64::from_str_radix(field, 16).map_err(|_| {
                anyhow!(
                    "cycle {cycle}: Verilog output `{}` is undefined ({field})",
                    port.name
                )
            })?;
            values.push(value);
        }
        all.push(values);
    }
    Ok(all)
}

/// Runs a simulator tool, fails with its output unless it exits successfully, and returns its
/// stderr (warnings).
/// Longest a compile or a simulation may take: a design whose `always @(*)` blocks keep
/// triggering each other never finishes under iverilog, and must fail, not hang the tests.
const TOOL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

fn run(command: &mut Command, what: &str) -> anyhow::Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    // Output goes to files, so a chatty tool cannot block on a full pipe while we wait.
    let log = tempfile_pair()?;
    let mut child = match command
        .stdout(log.0.try_clone()?)
        .stderr(log.1.try_clone()?)
        .spawn()
    {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!("`{program}` not found: install iverilog: apt-get install iverilog")
        }
        result => result.with_context(|| format!("cannot run `{program}`"))?,
    };
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if start.elapsed() > TOOL_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "{what} did not finish in {} s (`{program}` killed): a combinational loop that \
                 iverilog's event queue never settles?",
                TOOL_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let read = |mut f: &fs::File| -> anyhow::Result<String> {
        use std::io::{Read, Seek};
        let mut text = String::new();
        f.seek(std::io::SeekFrom::Start(0))?;
        f.read_to_string(&mut text)?;
        Ok(text)
    };
    let (stdout, stderr) = (read(&log.0)?, read(&log.1)?);
    if !status.success() {
        bail!("{what} failed (`{program}` {status}):\n{stderr}{stdout}");
    }
    Ok(stderr)
}

/// Two anonymous files for a child's stdout and stderr.
fn tempfile_pair() -> anyhow::Result<(fs::File, fs::File)> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let open = || -> anyhow::Result<fs::File> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("fs-crosscheck-log-{}-{n}", std::process::id()));
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        // Unlinked at once: the open handles keep it until they close.
        fs::remove_file(&path)?;
        Ok(file)
    };
    Ok((open()?, open()?))
}

/// A fresh directory per call, removed on drop, so parallel tests never share files.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<Self> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("fs-crosscheck-{}-{n}", std::process::id()));
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_simulator_names_the_package() {
        let err = run(&mut Command::new("fs-crosscheck-no-such-tool"), "x").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("install iverilog: apt-get install iverilog"),
            "{message}"
        );
    }

    #[test]
    fn inputs_are_packed_in_whole_hex_digits() {
        let inputs = [Port::new("a", 5), Port::new("b", 1), Port::new("c", 64)];
        let text = input_file(&inputs, &[vec![0xff, 3, u64::MAX]]);
        assert_eq!(text, "1f1ffffffffffffffff\n");
        let tb = testbench(&inputs, &[Port::new("y", 8)], 1, true);
        assert!(tb.contains("in0 = vectors[cycle][72:68];"), "{tb}");
        assert!(tb.contains(".clock(clock)"), "{tb}");
        assert!(tb.contains("in1 = vectors[cycle][64:64];"), "{tb}");
        assert!(tb.contains("in2 = vectors[cycle][63:0];"), "{tb}");
    }

    #[test]
    fn only_clocked_modules_get_a_clock() {
        assert!(has_clock("module top(clock,a,y);"));
        assert!(has_clock("module top(a, clock);"));
        assert!(!has_clock("module top(a,clock_enable,y);"));
        assert!(has_clock(
            "module top(input clock, input [3:0] a, output y);"
        ));
        assert!(!has_clock(
            "module top(input [3:0] a, input clock_enable, output y);"
        ));
        let tb = testbench(&[Port::new("a", 1)], &[Port::new("y", 1)], 1, false);
        assert!(!tb.contains(".clock("), "{tb}");
    }
}
