//! One link of a chain that gathers the lanes of a layer into words: lane `p`'s spike into bit
//! `p` of a vector, and the number and value of the one selected lane.
//!
//! Each link ORs its lane's contribution into what the previous link passed on. RustHDL
//! cannot build a vector bit by bit inside one block (a signal that reads itself does not
//! simulate as its Verilog runs), so the gathering is spread over a chain of blocks. In
//! hardware the chain costs nothing: each vector bit has one source, and the ORs of the
//! number and value are balanced into trees by synthesis.

use crate::dense_layer::MAX_LANES;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct CollectLink {
    pub spike: Signal<In, Bit>,
    pub selected: Signal<In, Bit>,
    pub value: Signal<In, Bits<32>>,
    pub vector_in: Signal<In, Bits<MAX_LANES>>,
    pub number_in: Signal<In, Bits<16>>,
    pub value_in: Signal<In, Bits<32>>,
    pub vector_out: Signal<Out, Bits<MAX_LANES>>,
    pub number_out: Signal<Out, Bits<16>>,
    pub value_out: Signal<Out, Bits<32>>,
    lane_bit: Constant<Bits<MAX_LANES>>,
    lane_number: Constant<Bits<16>>,
}

impl CollectLink {
    /// The link of lane `lane`.
    pub fn new(lane: usize) -> Self {
        assert!(lane < MAX_LANES);
        CollectLink {
            spike: Default::default(),
            selected: Default::default(),
            value: Default::default(),
            vector_in: Default::default(),
            number_in: Default::default(),
            value_in: Default::default(),
            vector_out: Default::default(),
            number_out: Default::default(),
            value_out: Default::default(),
            lane_bit: Constant::new(Bits::<MAX_LANES>::default().replace_bit(lane, true)),
            lane_number: Constant::new((lane as u64).into()),
        }
    }
}

impl Logic for CollectLink {
    #[hdl_gen]
    fn update(&mut self) {
        self.vector_out.next = self.vector_in.val();
        if self.spike.val() {
            self.vector_out.next = self.vector_in.val() | self.lane_bit.val();
        }
        self.number_out.next = self.number_in.val();
        self.value_out.next = self.value_in.val();
        if self.selected.val() {
            self.number_out.next = self.number_in.val() | self.lane_number.val();
            self.value_out.next = self.value_in.val() | self.value.val();
        }
    }
}
