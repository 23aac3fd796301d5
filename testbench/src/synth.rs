//! Yosys synthesis of generated Verilog for an FPGA part, reduced to cell counts: enough to
//! check that memories map to block RAM and to compare designs.

use anyhow::{Context, bail};
use fs_hdl::fpga::Part;
use std::collections::BTreeMap;
use std::process::Command;

/// Synthesises `verilog` (module `top`) for `part` and returns the number of cells of each
/// type.
pub fn cell_counts(verilog: &str, part: Part) -> anyhow::Result<BTreeMap<String, usize>> {
    let stat = synthesise(verilog, part, "tee -o out.txt stat")?;
    Ok(parse_stat(&stat))
}

/// Synthesises `verilog` (module `top`) for `part` and returns the netlist as Verilog (module
/// `top` of the family's cells, without attributes).
pub fn netlist(verilog: &str, part: Part) -> anyhow::Result<String> {
    synthesise(verilog, part, "write_verilog -noattr out.txt")
}

/// Runs yosys's synthesis for `part` on `verilog`, then `output` (a command that writes
/// `out.txt`), and returns what it wrote.
fn synthesise(verilog: &str, part: Part, output: &str) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!(
        "fs-synth-{}-{}-{}",
        std::process::id(),
        part.device,
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("top.v"), verilog)?;
    let result = Command::new("yosys")
        .current_dir(&dir)
        .args([
            "-q",
            "-p",
            &format!("read_verilog top.v; {}; {output}", part.synth_command()),
        ])
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("yosys is not installed: apt-get install yosys")
            }
            _ => e.into(),
        });
    let written = std::fs::read_to_string(dir.join("out.txt"));
    std::fs::remove_dir_all(&dir).ok();
    let result = result?;
    if !result.status.success() {
        bail!(
            "yosys failed ({}):\n{}",
            part.device,
            String::from_utf8_lossy(&result.stderr)
        );
    }
    written.with_context(|| format!("yosys wrote nothing for `{output}`"))
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Reads the `stat` cell table: lines `     NAME     COUNT` after "Number of cells".
fn parse_stat(text: &str) -> BTreeMap<String, usize> {
    text.lines()
        .skip_while(|l| !l.contains("Number of cells"))
        .skip(1)
        .map_while(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next()?;
            let count = fields.next()?.parse().ok()?;
            Some((name.to_string(), count))
        })
        .collect()
}

/// Flip-flops among the cells, whatever the family calls them.
pub fn flip_flops(cells: &BTreeMap<String, usize>) -> usize {
    cells
        .iter()
        .filter(|(name, _)| {
            name.starts_with("SB_DFF") || name.starts_with("TRELLIS_FF") || name.starts_with("FD")
        })
        .map(|(_, n)| n)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_tables_are_parsed() {
        let text = "   Number of wires: 3\n   Number of cells:  5\n     SB_LUT4   3\n     SB_RAM40_4K  2\n\n   Chip area: 0\n";
        let cells = parse_stat(text);
        assert_eq!(cells["SB_LUT4"], 3);
        assert_eq!(cells["SB_RAM40_4K"], 2);
        assert_eq!(cells.len(), 2);
    }
}
