//! `--device sim`: the RustHDL simulation of the whole device (command unit, frame codec,
//! image decoder, accelerator) behind a pseudo-terminal, so the host talks to it exactly as to
//! a board: it opens the terminal's path with `serialport` and goes through the same client.
//!
//! A thread owns the simulation: it moves bytes between the terminal and the device's byte
//! ports and runs the clock while the device has work (bytes to take, a request in hand,
//! images to feed or compute, bytes to send); otherwise it waits for the host.

use anyhow::{Context, Result, anyhow};
use fs_hdl::accelerator::HwConfig;
use fs_hdl::device::Device;
use fs_hdl::device_sim::DeviceSim;
use fs_model::network::Model;
use serialport::{SerialPort, TTYPort};
use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// A frame that stops arriving is abandoned after this many device cycles (the simulation's
/// clock runs only while there is work, so this never fires between a host's writes).
const GAP_LIMIT: u32 = 1 << 20;

pub struct SimDevice {
    /// The terminal the host opens.
    pub path: String,
    stop: Arc<AtomicBool>,
    cycles: Arc<AtomicU64>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl SimDevice {
    /// Builds the device for `model` and starts it.
    pub fn start(model: &Model, config: &HwConfig) -> Result<Self> {
        let device = Device::new(model, config, GAP_LIMIT).map_err(|e| anyhow!("{e}"))?;
        let (master, slave) = TTYPort::pair().context("creating a pseudo-terminal pair")?;
        let path = slave
            .name()
            .ok_or_else(|| anyhow!("the pseudo-terminal has no path"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, cycles) = (stop.clone(), cycles.clone());
            std::thread::spawn(move || serve(DeviceSim::new(device), master, slave, &stop, &cycles))
        };
        Ok(SimDevice {
            path,
            stop,
            cycles,
            thread: Some(thread),
        })
    }

    /// Device clock cycles simulated so far.
    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }

    /// Stops the simulation; returns its error, if it failed.
    pub fn stop(mut self) -> Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| anyhow!("the simulated device panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

/// The simulation loop. `_slave` stays open so the terminal lives while the host reopens it.
fn serve(
    mut sim: DeviceSim,
    mut master: TTYPort,
    _slave: TTYPort,
    stop: &AtomicBool,
    cycles: &AtomicU64,
) -> Result<()> {
    let mut buffer = [0u8; 4096];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) {
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
            master
                .write_all(&out)
                .context("writing to the pseudo-terminal")?;
            out.clear();
        }
        cycles.store(sim.cycles, Ordering::Relaxed);
    }
    Ok(())
}
