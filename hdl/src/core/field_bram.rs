//! A block RAM of wide words made of `fields` fields (one per lane of a convolution bank):
//! one shared read address, one field written at a time (a run-time load writes one lane).
//!
//! Why: the lanes of a bank always read the same address, so their weights belong in one
//! word. Separate memories would take a block RAM each, mostly empty; one wide memory fills
//! the block RAMs' width instead (an ECP5 DP16KD reads 36 bits per cycle). Fields are padded
//! to the block RAM's 9-bit bytes by the caller, so a field's write is a byte-enable write.
//!
//! Reads are registered, like [`crate::core::bram::Bram`]'s, and return the raw fields
//! (field `f` at bits `f F ..`, zeros above the last); a read and a write of one address in
//! one cycle return the old word. The Verilog is written by hand for yosys.

use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct FieldBram<const WIDE: usize> {
    pub clock: Signal<In, Clock>,
    pub read_address: Signal<In, Bits<16>>,
    pub read_data: Signal<Out, Bits<WIDE>>,
    pub write_enable: Signal<In, Bit>,
    pub write_field: Signal<In, Bits<16>>,
    pub write_address: Signal<In, Bits<16>>,
    /// The field's value (its low `field_bits` bits are stored).
    pub write_data: Signal<In, Bits<32>>,
    _field_bits: usize,
    _fields: usize,
    /// Simulation contents: per word, its fields.
    _mem: Vec<Vec<u64>>,
}

impl<const WIDE: usize> FieldBram<WIDE> {
    /// `words[a][f]` is field `f` of word `a` (two's complement values that must fit
    /// `field_bits`); the depth is rounded up to a power of two.
    pub fn new(field_bits: usize, words: &[Vec<i64>]) -> Self {
        let fields = words.first().map_or(0, Vec::len);
        assert!(
            (1..=32).contains(&field_bits) && fields >= 1 && fields * field_bits <= WIDE,
            "{fields} fields of {field_bits} bits do not fit a {WIDE}-bit port"
        );
        assert!(!words.is_empty() && words.len() <= 1 << 16);
        let mask = u64::MAX >> (64 - field_bits);
        let mut mem: Vec<Vec<u64>> = words
            .iter()
            .map(|w| {
                assert_eq!(w.len(), fields);
                w.iter().map(|&v| v as u64 & mask).collect()
            })
            .collect();
        mem.resize(words.len().next_power_of_two().max(2), vec![0; fields]);
        FieldBram {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_enable: Default::default(),
            write_field: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            _field_bits: field_bits,
            _fields: fields,
            _mem: mem,
        }
    }

    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl<const WIDE: usize> Logic for FieldBram<WIDE> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let wrap = self._mem.len() - 1;
            let read = self.read_address.val().index() & wrap;
            let mut word = Bits::<WIDE>::default();
            for (f, &v) in self._mem[read].iter().enumerate() {
                // (In place: `replace_bit` would copy the whole wide word for every bit.)
                for bit in (0..self._field_bits).filter(|b| v >> b & 1 == 1) {
                    word.set_bits::<1>(f * self._field_bits + bit, Bits::<1>::from(1u64));
                }
            }
            self.read_data.next = word;
            let field = self.write_field.val().index();
            if self.write_enable.val() && field < self._fields {
                let write = self.write_address.val().index() & wrap;
                let mask = u64::MAX >> (64 - self._field_bits);
                self._mem[write][field] = self.write_data.val().to_u64() & mask;
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let (f, n) = (self._field_bits, self._fields);
        let w = f * n;
        let depth = self._mem.len();
        let address_bits = depth.trailing_zeros().max(1);
        let a = address_bits - 1;
        let digits = w.div_ceil(4);
        // A word's hex digits: its fields packed, field 0 lowest.
        let hex = |fields: &[u64]| {
            let mut digits_rev = Vec::with_capacity(digits);
            let bit = |i: usize| (fields[i / f] >> (i % f)) & 1;
            for d in 0..digits {
                let nibble = (0..4)
                    .filter(|&k| 4 * d + k < w)
                    .fold(0, |acc, k| acc | (bit(4 * d + k) << k));
                digits_rev.push(std::char::from_digit(nibble as u32, 16).unwrap());
            }
            digits_rev.iter().rev().collect::<String>()
        };
        let contents: String = self._mem.iter().map(|m| hex(m) + "\n").collect();
        let init = match crate::core::bram::memory_file(&contents) {
            Ok(path) => format!("    $readmemh(\"{path}\", mem);\n"),
            Err(_) => self
                ._mem
                .iter()
                .enumerate()
                .map(|(i, m)| format!("    mem[{i}] = {w}'h{};\n", hex(m)))
                .collect(),
        };
        let writes: String = (0..n)
            .map(|k| {
                format!(
                    "    if (write_enable && write_field == 16'd{k}) mem[write_address[{a}:0]][{}:{}] <= write_data[{}:0];\n",
                    (k + 1) * f - 1,
                    k * f,
                    f - 1
                )
            })
            .collect();
        let read = if WIDE > w {
            format!("{{{}'d0, word}}", WIDE - w)
        } else {
            "word".to_string()
        };
        Verilog::Custom(format!(
            "\
(* no_rw_check *)
reg [{top}:0] mem [0:{last}];
reg [{top}:0] word;
initial begin
{init}    word = {w}'d0;
end
always @(posedge clock) begin
    word <= mem[read_address[{a}:0]];
{writes}end
always @(*) read_data = {read};
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

    fn tick<const W: usize>(uut: &mut FieldBram<W>) {
        uut.clock.next = true.into();
        settle(uut);
        uut.clock.next = false.into();
        settle(uut);
    }

    #[test]
    fn reads_whole_words_and_writes_one_field() {
        let words: Vec<Vec<i64>> = (0..5).map(|a| vec![a, -a, 100 + a]).collect();
        let mut uut = FieldBram::<64>::new(9, &words);
        prepare(&mut uut);
        let field = |uut: &FieldBram<64>, f: usize| {
            let v = uut.read_data.val().get_bits::<9>(9 * f).to_u64();
            ((v << 55) as i64) >> 55
        };
        uut.read_address.next = 3.into();
        tick(&mut uut);
        assert_eq!([0, 1, 2].map(|f| field(&uut, f)), [3, -3, 103]);
        assert_eq!(uut.read_data.val().get_bits::<32>(27).to_u64(), 0);
        uut.write_enable.next = true;
        uut.write_field.next = 1.into();
        uut.write_address.next = 3.into();
        uut.write_data.next = (-200i64 as u64 & 0xffff_ffff).into();
        tick(&mut uut);
        assert_eq!(
            field(&uut, 1),
            -3,
            "a read during the write sees the old word"
        );
        uut.write_enable.next = false;
        tick(&mut uut);
        assert_eq!([0, 1, 2].map(|f| field(&uut, f)), [3, -200, 103]);
    }

    #[test]
    fn verilog_passes_yosys() {
        let words: Vec<Vec<i64>> = (0..300).map(|a| vec![a % 200 - 100, a % 7]).collect();
        let mut uut = FieldBram::<32>::new(9, &words);
        prepare(&mut uut);
        yosys_validate("fs_hdl_field_bram", &generate_verilog(&uut)).unwrap();
    }
}
