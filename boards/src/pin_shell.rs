//! The accelerator behind few, registered pins: what place-and-route times and what a board
//! without a host link could drive. Every pin is registered on both sides, so timing reports
//! measure the accelerator's own paths, not the pads'.
//!
//! Pins: pixels in (`pixel_value`, `pixel_valid`, `pixel_ready`, and `pixel_is_zeros`: the byte
//! is the zero run of the next pixel word, up to 255; send it once the previous word was
//! taken), results out (`result_valid`, `result_last`, `result_index`, `result_class`,
//! `result_ready`), and a counter window: byte `counter_byte` of counter `counter_select` on
//! `counter_data`. 34 pins with the clock for 8-bit pixels, which fits the iCE40 UP5K's SG48
//! package (39 I/Os).

use anyhow::{Result, bail};
use fs_hdl::core::accelerator::{Accelerator, HwConfig};
use fs_model::network::Model;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct PinShell {
    pub clock: Signal<In, Clock>,
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_is_zeros: Signal<In, Bit>,
    pub pixel_value: Signal<In, Bits<8>>,
    pub pixel_ready: Signal<Out, Bit>,
    pub result_valid: Signal<Out, Bit>,
    pub result_last: Signal<Out, Bit>,
    pub result_index: Signal<Out, Bits<4>>,
    pub result_class: Signal<Out, Bits<4>>,
    pub result_ready: Signal<In, Bit>,
    pub counter_select: Signal<In, Bits<5>>,
    pub counter_byte: Signal<In, Bits<2>>,
    pub counter_data: Signal<Out, Bits<8>>,
    pub accelerator: Accelerator,
    // Input registers.
    pixel_valid_in: DFF<Bit>,
    pixel_is_zeros_in: DFF<Bit>,
    pixel_value_in: DFF<Bits<8>>,
    /// The zero run of the pixel word being sent.
    pixel_zeros: DFF<Bits<8>>,
    result_ready_in: DFF<Bit>,
    counter_select_in: DFF<Bits<5>>,
    counter_byte_in: DFF<Bits<2>>,
    // Output registers.
    pixel_ready_out: DFF<Bit>,
    result_valid_out: DFF<Bit>,
    result_last_out: DFF<Bit>,
    result_index_out: DFF<Bits<4>>,
    result_class_out: DFF<Bits<4>>,
    counter_data_out: DFF<Bits<8>>,
}

impl PinShell {
    /// A shell around `accelerator` (whose pixels must fit 8 bits and classes 4).
    pub fn new(accelerator: Accelerator) -> Self {
        PinShell {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_is_zeros: Default::default(),
            pixel_value: Default::default(),
            pixel_ready: Default::default(),
            result_valid: Default::default(),
            result_last: Default::default(),
            result_index: Default::default(),
            result_class: Default::default(),
            result_ready: Default::default(),
            counter_select: Default::default(),
            counter_byte: Default::default(),
            counter_data: Default::default(),
            accelerator,
            pixel_valid_in: Default::default(),
            pixel_is_zeros_in: Default::default(),
            pixel_value_in: Default::default(),
            pixel_zeros: Default::default(),
            result_ready_in: Default::default(),
            counter_select_in: Default::default(),
            counter_byte_in: Default::default(),
            pixel_ready_out: Default::default(),
            result_valid_out: Default::default(),
            result_last_out: Default::default(),
            result_index_out: Default::default(),
            result_class_out: Default::default(),
            counter_data_out: Default::default(),
        }
    }
}

impl Logic for PinShell {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            pixel_valid_in,
            pixel_is_zeros_in,
            pixel_value_in,
            pixel_zeros,
            result_ready_in,
            counter_select_in,
            counter_byte_in,
            pixel_ready_out,
            result_valid_out,
            result_last_out,
            result_index_out,
            result_class_out,
            counter_data_out
        );
        self.accelerator.clock.next = self.clock.val();
        self.pixel_valid_in.d.next = self.pixel_valid.val();
        self.pixel_is_zeros_in.d.next = self.pixel_is_zeros.val();
        self.pixel_value_in.d.next = self.pixel_value.val();
        self.result_ready_in.d.next = self.result_ready.val();
        self.counter_select_in.d.next = self.counter_select.val();
        self.counter_byte_in.d.next = self.counter_byte.val();
        // The registered handshakes are a protocol of their own: a pixel counts when the
        // registered valid meets ready, and the pins see ready a cycle later.
        self.accelerator.pixel_valid.next =
            self.pixel_valid_in.q.val() & !self.pixel_is_zeros_in.q.val();
        self.accelerator.pixel_zeros.next = bit_cast::<16, 8>(self.pixel_zeros.q.val());
        self.accelerator.pixel_value.next = bit_cast::<16, 8>(self.pixel_value_in.q.val());
        if self.accelerator.pixel_valid.val() & self.accelerator.pixel_ready.val() {
            self.pixel_zeros.d.next = 0.into();
        }
        if self.pixel_valid_in.q.val() & self.pixel_is_zeros_in.q.val() {
            self.pixel_zeros.d.next = self.pixel_value_in.q.val();
        }
        self.accelerator.result_ready.next = self.result_ready_in.q.val();
        self.accelerator.counter_select.next = bit_cast::<8, 5>(self.counter_select_in.q.val());
        self.accelerator.counter_clear.next = false;
        // The model is the built-in one: no run-time loads.
        self.accelerator.load_enable.next = false;
        self.accelerator.load_state.next = false;
        self.accelerator.load_layer.next = 0.into();
        self.accelerator.load_lane.next = 0.into();
        self.accelerator.load_address.next = 0.into();
        self.accelerator.load_data.next = 0.into();
        self.pixel_ready_out.d.next = self.accelerator.pixel_ready.val();
        self.result_valid_out.d.next = self.accelerator.result_valid.val();
        self.result_last_out.d.next = self.accelerator.result_last.val();
        self.result_index_out.d.next = self.accelerator.result_index.val().get_bits::<4>(0);
        self.result_class_out.d.next = self.accelerator.result_class.val().get_bits::<4>(0);
        self.counter_data_out.d.next = self.accelerator.counter_value.val().get_bits::<8>(0);
        match self.counter_byte_in.q.val().index() {
            1 => {
                self.counter_data_out.d.next =
                    self.accelerator.counter_value.val().get_bits::<8>(8);
            }
            2 => {
                self.counter_data_out.d.next =
                    self.accelerator.counter_value.val().get_bits::<8>(16);
            }
            3 => {
                self.counter_data_out.d.next =
                    self.accelerator.counter_value.val().get_bits::<8>(24);
            }
            _ => {}
        }
        self.pixel_ready.next = self.pixel_ready_out.q.val();
        self.result_valid.next = self.result_valid_out.q.val();
        self.result_last.next = self.result_last_out.q.val();
        self.result_index.next = self.result_index_out.q.val();
        self.result_class.next = self.result_class_out.q.val();
        self.counter_data.next = self.counter_data_out.q.val();
    }
}

/// The Verilog of `model`'s accelerator built with `config`, in its pin shell (module `top`),
/// checked by RustHDL first; refused when the model's pixels or classes do not fit the pins.
pub fn shell_verilog(model: &Model, config: &HwConfig) -> Result<String> {
    let (bits, classes) = (
        model.input().bits,
        model.layers.last().map_or(0, |l| l.outputs()),
    );
    if bits > 8 || classes > 16 {
        bail!(
            "the pin shell takes pixels of up to 8 bits and up to 16 classes; this model has \
             {bits}-bit pixels and {classes} classes"
        );
    }
    let mut shell = PinShell::new(Accelerator::new(model, config)?);
    fs_hdl::sim::checked(&mut shell)?;
    Ok(generate_verilog(&shell))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_hdl::core::accelerator::HwConfig;
    use fs_hdl::sim::prepare;

    #[test]
    fn generates_verilog_yosys_accepts() {
        let model = fs_testkit::shipped::model("digits-mlp.fsnn");
        let accel = Accelerator::new(&model, &HwConfig::new(vec![2, 2])).unwrap();
        let mut uut = PinShell::new(accel);
        prepare(&mut uut);
        yosys_validate("fs_hdl_pin_shell", &generate_verilog(&uut)).unwrap();
    }
}
