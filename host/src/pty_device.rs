//! `--device sim`: the RustHDL simulation of the whole device (command unit, frame codec,
//! image decoder, accelerator) behind a pseudo-terminal, so the host talks to it exactly as to
//! a board: it opens the terminal's path with `serialport` and goes through the same client.
//!
//! Three engines run the device: RustHDL's simulation ([`PtyDevice::start`]: a thread moves
//! bytes between the terminal and the device's byte ports and runs the clock while the device
//! has work, otherwise it waits for the host); the device's generated Verilog compiled by
//! Verilator ([`PtyDevice::start_verilator`]: a child process with the same loop, its stdin and
//! stdout joined to the terminal by two threads), much faster for long runs; or a board's
//! bitstream read back as a netlist ([`PtyDevice::start_netlist`]: the same child process
//! around the netlist, bytes going through its UART pins).

use anyhow::{Context, Result, anyhow};
use fs_boards::Board;
use fs_boards::netlist::NetlistDevice;
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::link::device::Device;
use fs_hdl::sim::rusthdl::device::DeviceDriver;
use fs_hdl::sim::verilator::device::VerilatedDevice;
use fs_model::network::Model;
use serialport::{SerialPort, TTYPort};
use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A frame that stops arriving is abandoned after this many device cycles (the simulation's
/// clock runs only while there is work, so this never fires between a host's writes).
const GAP_LIMIT: u32 = 1 << 20;

pub struct PtyDevice {
    /// The terminal the host opens.
    pub path: String,
    stop: Arc<AtomicBool>,
    cycles: Arc<AtomicU64>,
    /// Bytes the device may still send before it goes silent (a test's vanishing board).
    budget: Arc<AtomicU64>,
    threads: Vec<JoinHandle<Result<()>>>,
    /// The simulation's process (Verilator, netlist).
    child: Option<Child>,
}

impl PtyDevice {
    /// Builds the device for `model` and starts it.
    pub fn start(model: &Model, config: &HwConfig) -> Result<Self> {
        let device = Device::new(model, config, GAP_LIMIT)?;
        let (master, slave) = TTYPort::pair().context("creating a pseudo-terminal pair")?;
        let path = slave
            .name()
            .ok_or_else(|| anyhow!("the pseudo-terminal has no path"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let budget = Arc::new(AtomicU64::new(u64::MAX));
        let thread = {
            let (stop, cycles, budget) = (stop.clone(), cycles.clone(), budget.clone());
            std::thread::spawn(move || {
                let link = Link {
                    stop: &stop,
                    budget: &budget,
                };
                serve(DeviceDriver::new(device), master, slave, link, &cycles)
            })
        };
        Ok(PtyDevice {
            path,
            stop,
            cycles,
            budget,
            threads: vec![thread],
            child: None,
        })
    }

    /// Builds the device for `model` with Verilator (cached under `cache`) and starts it.
    pub fn start_verilator(model: &Model, config: &HwConfig, cache: &Path) -> Result<Self> {
        let mut device = Device::new(model, config, GAP_LIMIT)?;
        let binary = VerilatedDevice::build(&mut device, cache)?.binary;
        Self::start_process(&binary, &[])
    }

    /// Reads `board`'s `bitstream` back as a netlist, compiles it with Verilator (both cached
    /// under `cache`) and starts it.
    pub fn start_netlist(board: &Board, bitstream: &Path, cache: &Path) -> Result<Self> {
        let device = NetlistDevice::build(board, bitstream, cache)?;
        Self::start_process(&device.binary, &device.args())
    }

    /// Starts a simulation that speaks the wire protocol on its stdin and stdout.
    fn start_process(binary: &Path, args: &[String]) -> Result<Self> {
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let (mut to_child, mut from_child) = (
            child.stdin.take().expect("piped"),
            child.stdout.take().expect("piped"),
        );
        let (mut master, slave) = TTYPort::pair().context("creating a pseudo-terminal pair")?;
        let path = slave
            .name()
            .ok_or_else(|| anyhow!("the pseudo-terminal has no path"))?;
        let mut master_out = master
            .try_clone_native()
            .context("cloning the pseudo-terminal")?;
        let stop = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(AtomicU64::new(u64::MAX));
        // Host to device, until the stop; then the device's stdin closes and it ends.
        let host_to_device = {
            let (stop, budget) = (stop.clone(), budget.clone());
            std::thread::spawn(move || -> Result<()> {
                let _slave = slave;
                let mut buffer = [0u8; 4096];
                master.set_timeout(Duration::from_millis(20))?;
                while !stop.load(Ordering::Relaxed) {
                    match master.read(&mut buffer) {
                        // (A vanished device hears nothing.)
                        Ok(_) if budget.load(Ordering::Relaxed) == 0 => {}
                        Ok(n) => to_child
                            .write_all(&buffer[..n])
                            .context("writing to the simulation")?,
                        Err(e)
                            if e.kind() == ErrorKind::TimedOut
                                || e.kind() == ErrorKind::Interrupted => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
                Ok(())
            })
        };
        // Device to host, until the device ends.
        let device_to_host = {
            let budget = budget.clone();
            std::thread::spawn(move || -> Result<()> {
                let mut buffer = [0u8; 4096];
                loop {
                    let n = from_child
                        .read(&mut buffer)
                        .context("reading from the simulation")?;
                    if n == 0 {
                        return Ok(());
                    }
                    let n = spend(&budget, n);
                    master_out
                        .write_all(&buffer[..n])
                        .context("writing to the pseudo-terminal")?;
                }
            })
        };
        Ok(PtyDevice {
            path,
            stop,
            cycles: Arc::new(AtomicU64::new(0)),
            budget,
            threads: vec![host_to_device, device_to_host],
            child: Some(child),
        })
    }

    /// Testing: after `bytes` more bytes to the host, the device goes silent (hears and says
    /// nothing, its terminal stays open), as a board that hangs or is unplugged mid-run.
    pub fn vanish_after(&mut self, bytes: u64) {
        self.budget.store(bytes, Ordering::Relaxed);
    }

    /// Device clock cycles simulated so far (RustHDL engine only).
    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }

    /// Stops the simulation; returns its error, if it failed.
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let mut outcome = Ok(());
        for t in self.threads.drain(..) {
            let result = t
                .join()
                .map_err(|_| anyhow!("the simulated device panicked"))
                .and_then(|r| r);
            outcome = outcome.and(result);
        }
        if let Some(mut child) = self.child.take() {
            let status = child.wait().context("waiting for the simulation")?;
            if !status.success() {
                outcome = outcome.and(Err(anyhow!("the simulation ended with {status}")));
            }
        }
        outcome
    }
}

impl Drop for PtyDevice {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// Takes up to `n` bytes from what the device may still send; returns how many it may.
fn spend(budget: &AtomicU64, n: usize) -> usize {
    let left = budget.load(Ordering::Relaxed);
    let n = (n as u64).min(left);
    if left != u64::MAX {
        budget.store(left - n, Ordering::Relaxed);
    }
    n as usize
}

/// What the simulation loop answers to: the stop, and the bytes it may still send.
struct Link<'a> {
    stop: &'a AtomicBool,
    budget: &'a AtomicU64,
}

/// The simulation loop. `_slave` stays open so the terminal lives while the host reopens it.
fn serve(
    mut sim: DeviceDriver,
    mut master: TTYPort,
    _slave: TTYPort,
    link: Link,
    cycles: &AtomicU64,
) -> Result<()> {
    let mut buffer = [0u8; 4096];
    let mut out = Vec::new();
    while !link.stop.load(Ordering::Relaxed) {
        if link.budget.load(Ordering::Relaxed) == 0 {
            // Vanished: the terminal stays open, nothing is heard or said.
            let _ = master.read(&mut buffer);
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        // Wait for the host only when there is nothing else to do.
        let waiting = if sim.idle() {
            Duration::from_millis(20)
        } else {
            Duration::ZERO
        };
        let available = master.bytes_to_read().unwrap_or(0);
        if available > 0 || !waiting.is_zero() {
            master.set_timeout(waiting.max(Duration::from_millis(1)))?;
            match master.read(&mut buffer) {
                Ok(n) => sim.send(&buffer[..n]),
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {
                }
                // The host closed its end: wait for it to reopen or for the stop.
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        for _ in 0..64 {
            if sim.idle() {
                break;
            }
            if let Some(byte) = sim.cycle() {
                out.push(byte);
            }
        }
        if !out.is_empty() {
            let n = spend(link.budget, out.len());
            master
                .write_all(&out[..n])
                .context("writing to the pseudo-terminal")?;
            out.clear();
        }
        cycles.store(sim.cycles, Ordering::Relaxed);
    }
    Ok(())
}
