//! A block RAM with a registered read: one read and one write port, a run-time width and
//! depth (the model's), initial contents from the model, and values sign-extended to the
//! port width on read (or to a narrower [`crate::core::datapath::Datapath`] width, zero above it).
//! Weight banks and neuron state are this block. The depth is rounded up to a power of two
//! and addresses are cut to its bits (no range-check logic), in simulation and Verilog alike.
//!
//! The Verilog is written by hand (`(* no_rw_check *)`, registered read) so that yosys maps it
//! to block RAM on iCE40, ECP5 and Xilinx 7 without the read-during-write bypass logic that
//! RustHDL's `RAM` puts around its memory. A read and a write of the same address in one
//! cycle return the old value, in simulation and in Verilog alike.

use rust_hdl::prelude::*;

/// Memories this deep or less are built from LUT RAM (`ram_style = "distributed"`) when they
/// ask ([`Bram::lut_ram_when_small`]) and [`set_lut_ram`] says the target has it.
pub const DISTRIBUTED_DEPTH: usize = 128;

/// Whether generated Verilog asks for LUT RAM for small memories: yes for a family that has
/// it (ECP5, Xilinx 7), where hundreds of lanes' few words would otherwise take a block RAM
/// each; no for iCE40, where a small memory is a block RAM or flip-flops.
static LUT_RAM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes generated Verilog build the memories that ask, of at most [`DISTRIBUTED_DEPTH`]
/// words, from LUT RAM (`true`), or leaves the choice to the synthesis tool (`false`, the
/// default).
pub fn set_lut_ram(on: bool) {
    LUT_RAM.store(on, std::sync::atomic::Ordering::Relaxed);
}

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
    /// Bits the read value is sign-extended to.
    _extend: usize,
    /// Simulation contents, `width`-bit two's complement patterns.
    _mem: Vec<u64>,
    /// Ask for LUT RAM when small ([`Bram::lut_ram_when_small`]).
    _lut_ram: bool,
    /// The words the design uses (the contents given; the depth is rounded up from it).
    _words: usize,
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
        // A power-of-two depth: addresses are cut to their low bits, in hardware as here.
        let mut mem: Vec<u64> = init.iter().map(|&v| v as u64 & mask).collect();
        mem.resize(init.len().next_power_of_two().max(2), 0);
        Bram {
            clock: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            _width: width,
            _extend: PORT,
            _mem: mem,
            _lut_ram: false,
            _words: init.len(),
        }
    }

    /// Built from LUT RAM when at most [`DISTRIBUTED_DEPTH`] words deep and the target has it
    /// ([`set_lut_ram`]): for memories the design itself writes (a lane's state). (A memory
    /// only the host writes is a ROM in a design without a load port, and yosys maps no ROM
    /// to LUT RAM.)
    pub fn lut_ram_when_small(mut self) -> Self {
        self._lut_ram = true;
        self
    }

    /// Sign-extends reads to `bits` (>= the width) only, with zeros above.
    pub fn sign_extended_to(mut self, bits: usize) -> Self {
        assert!((self._width..=PORT).contains(&bits));
        self._extend = bits;
        self
    }

    pub fn depth(&self) -> usize {
        self._mem.len()
    }

    fn sign_extend(&self, raw: u64) -> Bits<PORT> {
        let shift = 64 - self._width;
        let value = ((raw << shift) as i64 >> shift) as u64;
        Bits::<PORT>::from(value & (u64::MAX >> (64 - self._extend)))
    }
}

impl<const PORT: usize> Logic for Bram<PORT> {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            // Addresses wrap at the (power-of-two) depth, as in the Verilog below.
            let wrap = self._mem.len() - 1;
            let read = self.read_address.val().index() & wrap;
            self.read_data.next = self.sign_extend(self._mem[read]);
            let write = self.write_address.val().index() & wrap;
            if self.write_enable.val() {
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
        // Address bits of the array (at least one, so the slices below are legal).
        let address_bits = depth.trailing_zeros().max(1);
        // Small memories (a lane's few neuron groups) go to LUT RAM: a block RAM each would
        // be nearly empty, and there are hundreds of lanes.
        let lut_ram = self._lut_ram
            && depth <= DISTRIBUTED_DEPTH
            && LUT_RAM.load(std::sync::atomic::Ordering::Relaxed);
        let style = if lut_ram {
            ", ram_style = \"distributed\""
        } else {
            ""
        };
        // LUT RAM comes in 16-word slices, so its array has only the words the design
        // addresses (a lane's three regions of G groups), not the power of two above them.
        let words = if lut_ram { self._words } else { depth };
        let digits = w.div_ceil(4);
        let contents: String = self._mem[..words]
            .iter()
            .map(|v| format!("{v:0digits$x}\n"))
            .collect();
        let init = match memory_file(&contents) {
            Ok(path) => format!("    $readmemh(\"{path}\", mem);\n"),
            // Without a writable folder, the contents go inline (slow for yosys on big
            // designs, but correct).
            Err(_) => std::iter::once(format!(
                "    for (i = 0; i < {words}; i = i + 1) mem[i] = {w}'d0;\n"
            ))
            .chain(
                self._mem[..words]
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v != 0)
                    .map(|(a, v)| format!("    mem[{a}] = {w}'h{v:0digits$x};\n")),
            )
            .collect(),
        };
        let mut parts = Vec::new();
        if PORT > self._extend {
            parts.push(format!("{}'d0", PORT - self._extend));
        }
        if self._extend > w {
            parts.push(format!("{{{}{{word[{}]}}}}", self._extend - w, w - 1));
        }
        parts.push("word".to_string());
        let extend = format!("{{{}}}", parts.join(", "));
        Verilog::Custom(format!(
            "\
(* no_rw_check{style} *)
reg [{top}:0] mem [0:{last}];
reg [{top}:0] word;
integer i;
initial begin
{init}    word = {w}'d0;
end
always @(posedge clock) begin
    word <= mem[read_address[{a}:0]];
    if (write_enable) mem[write_address[{a}:0]] <= write_data[{top}:0];
end
always @(*) read_data = {extend};
",
            top = w - 1,
            last = words - 1,
            a = address_bits - 1,
        ))
    }
}

/// Where [`Bram`] writes its initial contents for `$readmemh` (yosys takes minutes to parse
/// hundreds of thousands of inline `mem[a] = v` assignments, and milliseconds to read a file).
/// Files are named by a hash of their contents, so designs and parallel runs share them.
static MEMORY_DIR: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);

/// Makes generated Verilog read its memories' contents from `dir` (created if needed), by
/// absolute path. The default is a folder in the system's temporary directory.
pub fn set_memory_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    *MEMORY_DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir.canonicalize()?);
    Ok(())
}

/// Writes `contents` (one hex word per line) to the memory folder; returns its absolute path.
pub(crate) fn memory_file(contents: &str) -> std::io::Result<String> {
    use std::hash::{Hash, Hasher};
    let dir = MEMORY_DIR
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("fs-accel-memories"));
    std::fs::create_dir_all(&dir)?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    contents.hash(&mut hasher);
    let path = dir.join(format!("fs_mem_{:016x}.hex", hasher.finish()));
    if !path.exists() {
        // Written under a temporary name and renamed, so a parallel reader never sees half.
        let partial = dir.join(format!(
            "fs_mem_{:016x}.{}.part",
            hasher.finish(),
            std::process::id()
        ));
        std::fs::write(&partial, contents)?;
        std::fs::rename(&partial, &path)?;
    }
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| std::io::Error::other("the memory folder's path is not UTF-8"))
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
        for (a, expect) in [(0u64, 5i16), (1, -1), (2, -128), (3, 127), (9, -1)] {
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
