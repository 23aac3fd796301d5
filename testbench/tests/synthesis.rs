//! Memories map to block RAM on every family (no weight array in LUTs or flip-flops).

use fs_hdl::core::bram::Bram;
use fs_hdl::fpga::Family;
use fs_hdl::sim::prepare;
use fs_testbench::synth::{cell_counts, flip_flops};
use rust_hdl::prelude::generate_verilog;

#[test]
fn a_weight_bank_is_block_ram_on_every_family() {
    // 1,568 8-bit weights: one MNIST lane's bank (784 inputs x 2 groups).
    let weights: Vec<i64> = (0..1568).map(|i| (i * 97 % 255) - 127).collect();
    let mut bank = Bram::<16>::new(8, &weights);
    prepare(&mut bank);
    let verilog = generate_verilog(&bank);
    for family in Family::ALL {
        let cells = cell_counts(&verilog, family.representative()).unwrap();
        let brams = cells.get(family.block_ram()).copied().unwrap_or(0);
        assert!(
            brams >= 1,
            "{family:?}: no {} in {cells:?}",
            family.block_ram()
        );
        // The read register and a few control bits at most: the array is not in flip-flops.
        assert!(flip_flops(&cells) <= 24, "{family:?}: {cells:?}");
    }
}

#[test]
fn small_memories_are_lut_ram_when_asked_on_ecp5() {
    // A lane's state: 3 regions of a few neuron groups, 25-bit membranes.
    let mut state = Bram::<32>::new(25, &[7; 48]).lut_ram_when_small();
    prepare(&mut state);
    // (Only yosys reads the attribute; simulations that generate Verilog meanwhile ignore it.)
    fs_hdl::core::bram::set_lut_ram(true);
    let verilog = generate_verilog(&state);
    fs_hdl::core::bram::set_lut_ram(false);
    let cells = cell_counts(&verilog, Family::Ecp5.representative()).unwrap();
    assert_eq!(cells.get("DP16KD"), None, "{cells:?}");
    // 48 words of 25 bits: three 16-word slices of seven 4-bit RAMs (not the 64 words of
    // the power of two above).
    assert_eq!(cells.get("TRELLIS_DPR16X4"), Some(&21), "{cells:?}");
}
