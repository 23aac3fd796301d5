//! The Opal Kelly XEM7010's top (Artix-7 XC7A50T): the device behind FrontPanel's USB pipes.
//! Built only with the `xem7010` feature, which needs Opal Kelly's FrontPanel SDK (see
//! `docs/boards.md`); the core it wraps, [`PipeBridge`], is built and tested without it.
//!
//! FrontPanel's host interface (`OpalKellyHost`, from `rust-hdl-bsp-ok-xem7010` through
//! `OpalKellyBSP`) clocks everything with its 100.8 MHz `ti_clk`. Endpoints
//! ([`fs_hdl::protocol::pipe`]): `PipeIn` 0x80 carries bytes to the device, `PipeOut` 0xA0
//! bytes from it, and `WireOut` 0x20 how many wait to be read.

use crate::pipe_bridge::PipeBridge;
use fs_hdl::link::device::Device;
use fs_hdl::protocol::pipe::{PIPE_IN, PIPE_OUT, WIRE_WAITING};
use rust_hdl::prelude::*;
use rust_hdl_bsp_ok_xem7010::xem7010::XEM7010;
use rust_hdl_ok_core::core::prelude::*;

/// The model file (from the repository root) and lanes the XEM7010 is built for: the MNIST
/// MLP, as on the ULX3S (it fits the XC7A50T's 150 RAMB18 by yosys' count).
pub const MODEL: &str = "models/mnist-mlp.fsnn";
pub const LANES: [usize; 2] = [128, 10];

#[derive(LogicBlock)]
pub struct Xem7010Top {
    pub hi: OpalKellyHostInterface,
    pub ok_host: OpalKellyHost,
    pub pipe_in: PipeIn,
    pub pipe_out: PipeOut,
    pub waiting: WireOut,
    pub bridge: PipeBridge,
    /// LED 0: a request is in hand; 1: images are being fed (lit low).
    pub leds: Signal<Out, Bits<8>>,
    dark: Constant<Bits<8>>,
}

impl Xem7010Top {
    pub fn new(device: Device) -> Self {
        Xem7010Top {
            hi: XEM7010::hi(),
            ok_host: XEM7010::ok_host(),
            pipe_in: PipeIn::new(PIPE_IN),
            pipe_out: PipeOut::new(PIPE_OUT),
            waiting: WireOut::new(WIRE_WAITING),
            bridge: PipeBridge::new(device),
            leds: XEM7010::leds(),
            dark: Constant::new(0.into()),
        }
    }
}

impl Logic for Xem7010Top {
    #[hdl_gen]
    fn update(&mut self) {
        OpalKellyHostInterface::link(&mut self.hi, &mut self.ok_host.hi);
        self.bridge.clock.next = self.ok_host.ti_clk.val();
        // The endpoints share FrontPanel's bus: ok1 to all, their ok2 ORed back.
        self.pipe_in.ok1.next = self.ok_host.ok1.val();
        self.pipe_out.ok1.next = self.ok_host.ok1.val();
        self.waiting.ok1.next = self.ok_host.ok1.val();
        self.ok_host.ok2.next =
            self.pipe_in.ok2.val() | self.pipe_out.ok2.val() | self.waiting.ok2.val();
        self.bridge.in_write.next = self.pipe_in.write.val();
        self.bridge.in_word.next = self.pipe_in.dataout.val();
        self.bridge.out_read.next = self.pipe_out.read.val();
        self.pipe_out.datain.next = self.bridge.out_word.val();
        self.waiting.datain.next = self.bridge.out_waiting.val();
        self.leds.next = !self
            .dark
            .val()
            .replace_bit(0, self.bridge.active.val())
            .replace_bit(1, self.bridge.feeding.val());
    }
}

/// The top's Verilog, with the endpoints' black-box stubs removed (Opal Kelly's HDL files
/// define those modules), and its pin constraints (XDC).
pub fn top_sources(model: &fs_model::network::Model) -> anyhow::Result<(String, String)> {
    let config = fs_hdl::core::accelerator::HwConfig::new(LANES.to_vec());
    let device = Device::new(model, &config, 10_080_000)?;
    let mut top = Xem7010Top::new(device);
    fs_hdl::sim::checked(&mut top)?;
    let verilog = filter_blackbox_directives(&generate_verilog(&top));
    let xdc = rust_hdl::fpga::toolchains::vivado::generate_xdc(&top);
    Ok((verilog, xdc))
}
