//! The board tops, simulated: one test binary (each links RustHDL).

mod alchitry_cu;
mod icebreaker;
mod lock_hold;
mod netlist;
mod pipe_bridge;
mod uart_top;
mod ulx3s;

/// The ports of `module top(...)` in generated Verilog (the pin-file tests compare them).
fn top_ports(verilog: &str) -> Vec<String> {
    let start = verilog.find("module top(").expect("module top");
    let header = &verilog[start..start + verilog[start..].find(");").unwrap()];
    header["module top(".len()..]
        .split(',')
        .map(|p| p.trim().to_string())
        .collect()
}
