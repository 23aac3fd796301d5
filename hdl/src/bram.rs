//! A block RAM with a registered read: one read and one write port, a run-time width and
//! depth (the model's), initial contents from the model, and values sign-extended to the
//! port width on read. Weight banks and accumulator banks are this block.
//!
//! The Verilog is written by hand (`(* no_rw_check *)`, registered read) so that yosys maps it
//! to block RAM on iCE40, ECP5 and Xilinx 7 without the read-during-write logic RustHDL's
//! `RAM` adds (see the shared RustHDL notes). A read and a write of the same address in one
//! cycle return the old value, in simulation and in Verilog alike.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Bram<const PORT: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    /// The word at the address of the previous cycle, sign-extended.
    pub read_data: Signal<Out, Bits<PORT>>,
    pub write_enable: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<16>>,
    /// Only the low `width` bits are stored.
    pub write_data: Signal<In, Bits<PORT>>,
    _width: usize,
    /// Simulation contents, `width`-bit two's complement patterns.
    _mem: Vec<u64>,
}

impl<const PORT: usize> Bram<PORT> {
    /// A RAM of `init.len()` words of `width` bits, initialised with `init` (two's complement
    /// values that must fit `width` bits).
    pub fn new(width: usize, init: &[i64]) -> Self {
        assert!(
            (1..=PORT).contains(&width) && PORT <= 64,
            "width {width} does not fit the {PORT}-bit port"
        );
        assert!(
            !init.is_empty() && init.len() <= 1 << 16,
            "depth {} is outside 1..=65536",
            init.len()
        );
        let mask = u64::MAX >> (64 - width);
        Bram {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            _width: width,
            _mem: init.iter().map(|&v| v as u64 & mask).collect(),
        }
    }

    pub fn depth(&self) -> usize {
        self._mem.len()
    }

    fn sign_extend(&self, raw: u64) -> Bits<PORT> {
        let shift = 64 - self._width;
        let value = ((raw << shift) as i64 >> shift) as u64;
        Bits::<PORT>::from(value & (u64::MAX >> (64 - PORT)))
    }
}

impl<const PORT: usize> Logic for Bram<PORT> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // Out-of-range addresses read as zero and ignore writes, as in the Verilog below
            // (whose array has exactly `depth` words).
            let read = self.read_address.val().index();
            let raw = self._mem.get(read).copied().unwrap_or(0);
            self.read_data.next = self.sign_extend(raw);
            let write = self.write_address.val().index();
            if self.write_enable.val() && write < self._mem.len() {
                let mask = u64::MAX >> (64 - self._width);
                self._mem[write] = self.write_data.val().to_u64() & mask;
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let w = self._width;
        let depth = self._mem.len();
        let digits = w.div_ceil(4);
        let init: String = self
            ._mem
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0)
            .map(|(a, v)| format!("    mem[{a}] = {w}'h{v:0digits$x};\n"))
            .collect();
        let extend = if w < PORT {
            format!(
                "{{{{{pad}{{word[{top}]}}}}, word}}",
                pad = PORT - w,
                top = w - 1
            )
        } else {
            "word".to_string()
        };
        Verilog::Custom(format!(
            "\
(* no_rw_check *)
reg [{top}:0] mem [0:{last}];
reg [{top}:0] word;
integer i;
initial begin
    for (i = 0; i < {depth}; i = i + 1) mem[i] = {w}'d0;
{init}    word = {w}'d0;
end
always @(posedge clock) begin
    word <= (read_address < {depth}) ? mem[read_address] : {w}'d0;
    if (write_enable && write_address < {depth}) mem[write_address] <= write_data[{top}:0];
end
always @(*) read_data = {extend};
",
            top = w - 1,
            last = depth - 1,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};

    fn tick<const P: usize>(uut: &mut Bram<P>) {
        uut.clock.next = true.into();
        settle(uut);
        uut.clock.next = false.into();
        settle(uut);
    }

    #[test]
    fn reads_initial_contents_sign_extended_one_cycle_later() {
        let mut uut = Bram::<16>::new(8, &[5, -1, -128, 127]);
        prepare(&mut uut);
        for (a, expect) in [(0u64, 5i16), (1, -1), (2, -128), (3, 127), (9, 0)] {
            uut.read_address.next = a.into();
            tick(&mut uut);
            assert_eq!(
                uut.read_data.val().to_u64() as u16 as i16,
                expect,
                "address {a}"
            );
        }
    }

    #[test]
    fn writes_land_and_a_simultaneous_read_sees_the_old_word() {
        let mut uut = Bram::<32>::new(20, &[0; 8]);
        prepare(&mut uut);
        uut.write_enable.next = true;
        uut.write_address.next = 3.into();
        uut.write_data.next = ((-300i32) as u32 as u64).into();
        uut.read_address.next = 3.into();
        tick(&mut uut);
        assert_eq!(
            uut.read_data.val().to_u64(),
            0,
            "read-during-write returns the old word"
        );
        uut.write_enable.next = false;
        tick(&mut uut);
        assert_eq!(uut.read_data.val().to_u64() as u32 as i32, -300);
        // Bits above the width are dropped: 2^19 wraps to -2^19 in 20 bits.
        uut.write_enable.next = true;
        uut.write_address.next = 4.into();
        uut.write_data.next = (1u64 << 19).into();
        uut.read_address.next = 4.into();
        tick(&mut uut);
        uut.write_enable.next = false;
        tick(&mut uut);
        assert_eq!(uut.read_data.val().to_u64() as u32 as i32, -(1 << 19));
    }

    #[test]
    fn verilog_passes_yosys() {
        let mut uut = Bram::<16>::new(9, &(0..700).map(|v| v % 200 - 100).collect::<Vec<_>>());
        prepare(&mut uut);
        yosys_validate("fs_hdl_bram", &generate_verilog(&uut)).unwrap();
    }
}
