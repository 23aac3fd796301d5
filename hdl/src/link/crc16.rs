//! CRC-16/IBM-3740 (polynomial 0x1021, MSB first, initial value 0xFFFF), one byte per clock:
//! the device's check of the wire protocol's frames ([`crate::protocol::crc16`] is the
//! reference it is tested against).

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Crc16 {
    pub clock: Signal<In, Clock>,
    /// Back to the initial value (takes precedence over `data_valid`).
    pub clear: Signal<In, Bit>,
    /// Fold `data` into the CRC (`byte` is a SystemVerilog keyword).
    pub data: Signal<In, Bits<8>>,
    pub data_valid: Signal<In, Bit>,
    /// The CRC of the bytes since the last `clear`.
    pub crc: Signal<Out, Bits<16>>,
    state: DFF<Bits<16>>,
    /// The CRC after each of the byte's bits (`steps[k]` after bit 7 - k).
    steps: Vec<Signal<Local, Bits<16>>>,
    polynomial: Constant<Bits<16>>,
}

impl Default for Crc16 {
    fn default() -> Self {
        Crc16 {
            clock: Default::default(),
            clear: Default::default(),
            data: Default::default(),
            data_valid: Default::default(),
            crc: Default::default(),
            state: Default::default(),
            steps: (0..9).map(|_| Default::default()).collect(),
            polynomial: Constant::new(0x1021.into()),
        }
    }
}

impl Logic for Crc16 {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state);
        // The register holds the CRC inverted, so that its reset value 0 is the initial 0xFFFF.
        self.crc.next = !self.state.q.val();
        self.steps[0].next = !self.state.q.val();
        for k in 0..8 {
            // One bit, MSB first: shift, and subtract the polynomial when the bit out differs
            // from the data bit in.
            self.steps[k + 1].next = self.steps[k].val() << 1;
            if self.steps[k].val().get_bit(15) ^ self.data.val().get_bit(7 - k) {
                self.steps[k + 1].next = (self.steps[k].val() << 1) ^ self.polynomial.val();
            }
        }
        if self.data_valid.val() {
            self.state.d.next = !self.steps[8].val();
        }
        if self.clear.val() {
            self.state.d.next = 0.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::crc16;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    fn run(uut: &mut Crc16, bytes: &[u8]) -> u16 {
        uut.clear.next = true;
        uut.data_valid.next = false;
        for level in [true, false] {
            uut.clock.next = level.into();
            settle(uut);
        }
        uut.clear.next = false;
        for &b in bytes {
            uut.data.next = (b as u64).into();
            uut.data_valid.next = true;
            for level in [true, false] {
                uut.clock.next = level.into();
                settle(uut);
            }
        }
        uut.crc.val().to_u64() as u16
    }

    proptest! {
        #[test]
        fn matches_the_protocol_crc(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut uut = Crc16::default();
            prepare(&mut uut);
            prop_assert_eq!(run(&mut uut, &bytes), crc16(&bytes));
        }
    }

    #[test]
    fn check_value() {
        let mut uut = Crc16::default();
        prepare(&mut uut);
        assert_eq!(run(&mut uut, b"123456789"), 0x29B1);
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = Crc16::default();
        prepare(&mut uut);
        yosys_validate("fs_hdl_crc16", &generate_verilog(&uut)).unwrap();
    }
}
