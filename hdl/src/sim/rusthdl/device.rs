//! Drives the RustHDL simulation of a [`Device`] at its byte ports: bytes queued for its
//! receiver go in one per cycle as it takes them, and every byte it sends is collected. The
//! simulated device of `fpga-host` and the device tests run on this.
//!
//! The UART is left out here (a byte per cycle instead of ten bit times): the UART blocks
//! and a board top are tested on their own, and a whole MNIST image would otherwise cost tens
//! of thousands of simulated cycles on the link alone.

use crate::link::device::Device;
use crate::sim::{prepare, settle};
use std::collections::VecDeque;

pub struct DeviceDriver {
    pub device: Device,
    rx: VecDeque<u8>,
    /// Clock cycles simulated.
    pub cycles: u64,
    /// When set, the inputs of every cycle, `[rx_valid, rx_data, rx_lost, tx_ready]`, so the
    /// session can be replayed on the generated Verilog.
    pub vectors: Option<Vec<Vec<u64>>>,
}

impl DeviceDriver {
    pub fn new(mut device: Device) -> Self {
        prepare(&mut device);
        DeviceDriver {
            device,
            rx: VecDeque::new(),
            cycles: 0,
            vectors: None,
        }
    }

    /// Queues bytes for the device's receiver.
    pub fn send(&mut self, bytes: &[u8]) {
        self.rx.extend(bytes);
    }

    /// Bytes queued and not yet taken by the device.
    pub fn queued(&self) -> usize {
        self.rx.len()
    }

    /// Nothing to do until the host sends more: no byte queued, no request in hand, no image
    /// being fed or computed (a result waiting to be read stops the computing), nothing sent.
    pub fn idle(&self) -> bool {
        self.rx.is_empty()
            && !self.device.active.val()
            && !self.device.feeding.val()
            && !self.device.computing.val()
            && !self.device.tx_valid.val()
    }

    /// One clock cycle; returns the byte the device sent in it, if any.
    pub fn cycle(&mut self) -> Option<u8> {
        let d = &mut self.device;
        d.rx_valid.next = !self.rx.is_empty();
        d.rx_data.next = (*self.rx.front().unwrap_or(&0) as u64).into();
        d.rx_lost.next = false;
        d.tx_ready.next = true;
        settle(d);
        if let Some(v) = &mut self.vectors {
            v.push(vec![d.rx_valid.val() as u64, d.rx_data.val().into(), 0, 1]);
        }
        if d.rx_valid.val() && d.rx_ready.val() {
            self.rx.pop_front();
        }
        let sent = d.tx_valid.val().then(|| d.tx_data.val().index() as u8);
        d.clock.next = true.into();
        settle(d);
        d.clock.next = false.into();
        settle(d);
        self.cycles += 1;
        sent
    }

    /// Runs until `stop` says so of the bytes sent so far, or `max_cycles` pass; returns the
    /// bytes sent.
    pub fn run_until(&mut self, max_cycles: u64, mut stop: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..max_cycles {
            if let Some(b) = self.cycle() {
                out.push(b);
                if stop(&out) {
                    break;
                }
            }
        }
        out
    }
}
