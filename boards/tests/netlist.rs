//! The netlist engine's ECP5 block RAM stand-in against yosys: a memory that yosys maps onto
//! `DP16KD`, simulated as written and as the netlist with the stand-in, must read the same
//! words, as loaded and after writes, in every width yosys uses.

use fs_boards::netlist::{cell_models, dp16kd_stand_in, on_stand_ins};
use fs_hdl::fpga::Family;
use fs_testbench::crosscheck::{Port, simulate_verilog};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A memory of `2^address_bits` words of `width` bits with a synchronous write port and a
/// synchronous read port (old data on a collision), loaded with `init`.
fn memory(width: usize, address_bits: usize, init: &[u64]) -> String {
    let mut loads = String::new();
    for (address, word) in init.iter().enumerate() {
        loads.push_str(&format!("        words[{address}] = {width}'h{word:x};\n"));
    }
    format!(
        "module top(input clock, input write_enable, input [{a}:0] write_address,
           input [{w}:0] write_data, input [{a}:0] read_address, output reg [{w}:0] read_data = 0);
    reg [{w}:0] words [0:{last}];
    initial begin
{loads}    end
    always @(posedge clock) begin
        if (write_enable) words[write_address] <= write_data;
        read_data <= words[read_address];
    end
endmodule
",
        a = address_bits - 1,
        w = width - 1,
        last = (1usize << address_bits) - 1,
    )
}

#[test]
fn block_ram_stand_in_reads_what_yosys_stored() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    // One block each: 16K x 1, 8K x 2, 4K x 4, 2K x 9, 1K x 18, and 512 x 36 (both ports
    // together, the `PDPW16KD` mode).
    for (width, address_bits) in [(1, 14), (2, 13), (4, 12), (9, 11), (18, 10), (36, 9)] {
        let words = 1usize << address_bits;
        let mask = (1u64 << width) - 1;
        let init: Vec<u64> = (0..words).map(|_| rng.r#gen::<u64>() & mask).collect();
        let reference = memory(width, address_bits, &init);
        let netlist =
            fs_testbench::synth::netlist(&reference, Family::Ecp5.representative()).expect("yosys");
        assert!(
            netlist.contains(&format!(".DATA_WIDTH_A(32'd{width})"))
                && netlist.contains(&format!(".DATA_WIDTH_B(32'd{width})")),
            "{width} bits: yosys chose other modes:\n{netlist}"
        );
        let both = format!(
            "module top(input clock, input write_enable, input [{a}:0] write_address,
           input [{w}:0] write_data, input [{a}:0] read_address, output [{w}:0] expected,
           output [{w}:0] seen);
    reference memory(clock, write_enable, write_address, write_data, read_address, expected);
    synthesised netlist(clock, write_enable, write_address, write_data, read_address, seen);
endmodule
{}
{}
{}
{}",
            reference.replace("module top(", "module reference("),
            on_stand_ins(&netlist.replace("module top(", "module synthesised("))
                .expect("modes the stand-in models"),
            dp16kd_stand_in(),
            cell_models("ecp5").expect("yosys's ECP5 cell models"),
            a = address_bits - 1,
            w = width - 1,
        );
        // Every word as loaded; writes and reads at random; every word again.
        let mut vectors = Vec::new();
        let any = |rng: &mut ChaCha8Rng| rng.gen_range(0..words as u64);
        vectors.extend((0..words as u64).map(|a| vec![0, 0, 0, a]));
        for _ in 0..2000 {
            let write = vec![
                rng.gen_range(0..2),
                any(&mut rng),
                rng.r#gen::<u64>() & mask,
                any(&mut rng),
            ];
            vectors.push(write);
        }
        vectors.extend((0..words as u64).map(|a| vec![0, 0, 0, a]));
        vectors.push(vec![0, 0, 0, 0]);
        let inputs = [
            Port::new("write_enable", 1),
            Port::new("write_address", address_bits),
            Port::new("write_data", width),
            Port::new("read_address", address_bits),
        ];
        let outputs = [Port::new("expected", width), Port::new("seen", width)];
        let sampled = simulate_verilog(&both, &inputs, &outputs, &vectors).unwrap();
        for (cycle, out) in sampled.iter().enumerate().skip(1) {
            assert_eq!(
                out[1], out[0],
                "{width} bits: cycle {cycle} read {:x}, the memory holds {:x}",
                out[1], out[0]
            );
        }
    }
}
