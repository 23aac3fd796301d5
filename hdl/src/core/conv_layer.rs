//! An event-driven convolution layer, max pooling in hardware: address-event spikes in, `B C`
//! [`Lane`]s (`B` banks of map positions times `C` output channels), spikes out in the bus
//! order of [`fs_model::geometry::send_order`]. [`ConvLayout`] says where every neuron,
//! weight and table word lives.
//!
//! - **Accumulate.** An input event reads its sender's row of the sender table (its first
//!   entry, their count `E` and its column base), then the `E` entries of every bank's table,
//!   one per cycle in all banks at once: each names a neuron group and a kernel offset, and
//!   every lane of the bank adds its channel's weight `W[c][base + offset] * D(t)` to that
//!   group's word. Events follow each other without a gap: two operations on one word in
//!   consecutive cycles are correct because the lanes forward the sum of the first to the
//!   second ([`Lane::with_adjacent_forwarding`]). The sender rows read wait, up to three, for
//!   the iterator; an event is accepted while a register says they have room, so
//!   `event_ready` starts at a flip-flop.
//! - **Fire**, pipelined: a fire step of one group in every lane takes one operation slot,
//!   step by step, group by group (`K G` slots; a group's steps two cycles apart at least).
//!   Each step's spikes are captured seven cycles after its issue (stage 3: the lanes'
//!   registered spikes), registered, and, when there are any (known a cycle later), wait in a
//!   ring of [`QUEUE_DEPTH`] groups; the oldest moves to a head register, from which its
//!   spikes leave one per cycle, lowest lane first; steps issue only while the ring has room
//!   for all in flight. Then every group is re-initialised (`G` slots) and, once every spike
//!   has left, an end-of-image marker closes the image.
//! - **Max pooling** (windows that tile the map, `S = w^2` slots): a window's neurons are one
//!   group's `S` neighbouring lanes. Each keeps a candidate bit: still tied with the largest
//!   spike train of its window so far. At each step the pooled neuron spikes when a candidate
//!   spikes, and then the candidates that did not spike drop out. With a code in which every
//!   spike outweighs all later ones (validated by the model), that is the train of the largest
//!   value, exactly what `fs_model::infer` sends.
//!
//! The dense layer fires one group at a time, a whole pipeline pass each, which is cheap for
//! its few groups; a map has hundreds, hence the queue here.

use crate::core::bram::Bram;
use crate::core::conv_layout::ConvLayout;
use crate::core::datapath::Datapath;
use crate::core::dense_layer::{
    EMISSION_CHUNK_LANES, MAX_LANES, OPERAND_GROUP_LANES, SpikeProduct,
};
use crate::core::field_bram::FieldBram;
use crate::core::lane::Lane;
use crate::core::operation::{LaneOperation, WEIGHT_READ_CYCLES};
use anyhow::{Result, bail};
use fs_model::geometry::Geometry;
use fs_model::network::FsLayer;
use rust_hdl::prelude::*;

/// Nodes of the head group's spike tree: 64 of 4 lanes and 16 of 16 (numbered in the update,
/// whose loops take only literals: 0 and 64); two 16-lane nodes make a 32-lane chunk.
const TREE_NODES: usize = 64 + 16;
const _: () = assert!(MAX_LANES == 256);
/// Groups of 4 lanes (the update's loop over them takes the literal 64).
const QUADS: usize = MAX_LANES / 4;
// The emission's chunks are sliced 32 wide and flagged in 8 bits.
const _: () = assert!(EMISSION_CHUNK_LANES == 32 && MAX_LANES / EMISSION_CHUNK_LANES <= 8);

// The per-bank addresses and the fire step's group are carried r1 to r3 by name.
const _: () = assert!(WEIGHT_READ_CYCLES == 3);

/// Captured groups that may wait for emission; fire steps issue while the queue has room for
/// every step in flight, so with sparse spikes one issues in every slot.
pub const QUEUE_DEPTH: usize = 8;

/// Bits of a bank's kernel word port: up to 127 channels of 9-bit fields (or 63 of 18), with
/// room to read a whole 32-bit field at the last one's offset.
const KERNEL_PORT: usize = 1175;

#[derive(LogicBlock)]
pub struct ConvLayer {
    pub clock: Signal<In, Clock>,
    /// Input events, as [`crate::core::dense_layer::DenseLayer`]'s.
    pub event_valid: Signal<In, Bit>,
    pub event_index: Signal<In, Bits<16>>,
    pub event_step: Signal<In, Bits<5>>,
    pub event_last: Signal<In, Bit>,
    pub event_ready: Signal<Out, Bit>,
    /// Output spikes `(spike_index, spike_step)` (the flat index of the sent map), then
    /// `spike_last`.
    pub spike_valid: Signal<Out, Bit>,
    pub spike_index: Signal<Out, Bits<16>>,
    pub spike_step: Signal<Out, Bits<5>>,
    pub spike_last: Signal<Out, Bit>,
    pub spike_ready: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub saturated: Signal<Out, Bit>,
    /// Run-time loads, as the dense layer's (lane layouts: [`ConvLayout::lane_contents`]).
    pub load_enable: Signal<In, Bit>,
    pub load_target: Signal<In, Bit>,
    pub load_state: Signal<In, Bit>,
    pub load_lane: Signal<In, Bits<16>>,
    pub load_address: Signal<In, Bits<16>>,
    pub load_data: Signal<In, Bits<32>>,
    lanes: Vec<Lane>,
    /// Per bank, its channels' kernels side by side (a field per lane, 9-bit aligned).
    kernels: Vec<FieldBram<KERNEL_PORT>>,
    /// Each bank's kernel word, registered twice: `kernel_capture` loads only
    /// `kernel_word`, so the placer keeps it beside the memory and the block RAM's slow
    /// output is not also a long route (run 20, seed 2: DOB -> kernel_word 10.05 ns with one
    /// register); the lanes take their fields from `kernel_word`, and their stage 1 is three
    /// cycles after stage 0 (r1, r2, r3).
    kernel_capture: Vec<DFF<Bits<KERNEL_PORT>>>,
    kernel_word: Vec<DFF<Bits<KERNEL_PORT>>>,
    channel_number: Vec<Constant<Bits<16>>>,
    /// A kernel load's write, registered per bank (enable and field, from the lanes' selects)
    /// and per layer (address and data): the selects' OR over a bank's channels reaches the
    /// block RAM's write port from flip-flops (the ULX3S at 128,160,32,4 failed there, 14.45 ns).
    kernel_write_enable: Vec<DFF<Bit>>,
    kernel_write_field: Vec<DFF<Bits<16>>>,
    kernel_write_address: DFF<Bits<16>>,
    kernel_write_data: DFF<Bits<32>>,
    /// Per lane, its field of its bank's kernel word, and that field sign-extended.
    lane_field: Vec<Signal<Local, Bits<32>>>,
    lane_weight: Vec<Signal<Local, Bits<32>>>,
    field_mask: Constant<Bits<32>>,
    field_extension: Constant<Bits<32>>,
    sender_table: Bram<32>,
    entry_tables: Vec<Bram<32>>,
    /// Max pooling: each lane's candidate bits, one per group.
    candidates: Vec<Bram<32>>,
    lane_number: Vec<Constant<Bits<16>>>,
    /// Whether the load names this lane's weights, or its state memory (as the dense layer's).
    weight_load_select: Vec<DFF<Bit>>,
    state_load_select: Vec<DFF<Bit>>,
    /// The layer is loaded, its weights or its state memory (registered, so the lanes' selects
    /// start from two flip-flops, not from the layer and state compares).
    weight_load_target: DFF<Bit>,
    state_load_target: DFF<Bit>,
    /// The flat index of each emission lane's neuron in group 0 of the sent map.
    emit_offset: Vec<Constant<Bits<16>>>,
    /// Whether lane `p` is the first slot of its window.
    slot_first: Vec<Constant<Bit>>,
    /// Lane `p`'s neuron exists in the last group.
    lane_in_last_group: Vec<Constant<Bit>>,
    /// Per [`OPERAND_GROUP_LANES`] lanes: one of them wrote a saturated sum, in a flip-flop
    /// ORed into `saturated` a cycle later (run 17, seed 1: the OR of every lane's flag into
    /// the accelerator's counter pulse, 10.25 ns).
    saturated_group: Vec<DFF<Bit>>,
    sender_shift: Vec<Constant<Bits<5>>>,
    sender_value: Vec<Constant<Bits<16>>>,
    threshold: Vec<Constant<Bits<32>>>,
    reset_addend: Vec<Constant<Bits<32>>>,
    // Table word fields.
    start_mask: Constant<Bits<32>>,
    count_shift: Constant<Bits<5>>,
    count_mask: Constant<Bits<32>>,
    base_shift: Constant<Bits<5>>,
    group_mask: Constant<Bits<32>>,
    offset_shift: Constant<Bits<5>>,
    groups: Constant<Bits<16>>,
    init_base: Constant<Bits<16>>,
    sent_per_group: Constant<Bits<16>>,
    full_group: Constant<Bits<MAX_LANES>>,
    last_group: Constant<Bits<MAX_LANES>>,
    lane_bit: Vec<Constant<Bits<MAX_LANES>>>,
    bank: DFF<Bit>,
    /// Events are accepted while `accept_ready` (a register) says that the rows held below
    /// have room for one more whatever the iterator does, so `event_ready` does not wait for
    /// the fire and iterator logic: on the slowest placements that chain ran on through the
    /// sender's FIFO pop and missed 100 MHz.
    accept_ready: DFF<Bit>,
    a_accept: Signal<Local, Bit>,
    /// Nothing is left of the image's events and of the previous image's firing (a register,
    /// a cycle late), and the end marker is taken.
    idle: DFF<Bit>,
    end_accept: Signal<Local, Bit>,
    /// The end marker was taken a cycle ago: the fire starts from this flip-flop (the FIFO's
    /// head and the take's AND then end at one register, not at the fire counters).
    end_taken: DFF<Bit>,
    /// The event accepted in the previous cycle, whose sender row is being read.
    read_valid: DFF<Bit>,
    read_step: DFF<Bits<5>>,
    sender_word: Signal<Local, Bits<32>>,
    /// The row read, in a register first: the block RAM's output is slow (5.6 ns on ECP5)
    /// and often far, and the iterator's logic behind it missed 100 MHz.
    fetched_valid: DFF<Bit>,
    fetched_step: DFF<Bits<5>>,
    fetched_word: DFF<Bits<32>>,
    /// Sender rows fetched but not yet taken by the iterator (oldest first; at most three
    /// with those being read and fetched).
    held_count: DFF<Bits<2>>,
    /// A ring of three: the oldest row's slot, and the free slot that the row fetched is
    /// written to in every cycle (it moves on only when the row is not taken at once), so
    /// that the slots' write enables and the row's multiplexer come from registers.
    held_read: DFF<Bits<2>>,
    held_write: DFF<Bits<2>>,
    held_word: Vec<DFF<Bits<32>>>,
    held_step: Vec<DFF<Bits<5>>>,
    held_number: Vec<Constant<Bits<2>>>,
    held_pop: Signal<Local, Bit>,
    held_push: Signal<Local, Bit>,
    held_kept: Signal<Local, Bits<2>>,
    held_next: Signal<Local, Bits<2>>,
    /// The row the iterator takes next: the oldest held, else the one fetched.
    row_valid: Signal<Local, Bit>,
    row_word: Signal<Local, Bits<32>>,
    row_step: Signal<Local, Bits<5>>,
    a_take: Signal<Local, Bit>,
    /// That row's fields (whole signals: the Verilog slices signals, not expressions).
    sender_start: Signal<Local, Bits<32>>,
    sender_count: Signal<Local, Bits<32>>,
    sender_base: Signal<Local, Bits<32>>,
    it_valid: DFF<Bit>,
    it_address: DFF<Bits<16>>,
    it_remaining: DFF<Bits<16>>,
    it_base: DFF<Bits<16>>,
    it_step: DFF<Bits<5>>,
    it_issue: Signal<Local, Bit>,
    /// `it_remaining == 1`, registered.
    it_last: DFF<Bit>,
    // P1: the entries' read data is valid.
    p1: DFF<LaneOperation>,
    p1_base: DFF<Bits<16>>,
    p1_read: DFF<Bits<16>>,
    p1_write: DFF<Bits<16>>,
    // Per bank: the lanes' weight address (stage 0), state addresses and enable.
    entry_word: Vec<Signal<Local, Bits<32>>>,
    entry_group: Vec<Signal<Local, Bits<32>>>,
    entry_offset: Vec<Signal<Local, Bits<32>>>,
    /// The entry's kernel offset, straight from the entry table's block RAM into a
    /// register, and the event's kernel base beside it: their sum goes to the kernels' read
    /// address without a register (the block RAM's own address register takes it), so the
    /// slow block-RAM output and the adder are two paths in the same cycles as before.
    s1_entry_offset: Vec<DFF<Bits<16>>>,
    s1_kernel_base: DFF<Bits<16>>,
    weight_address: Vec<Signal<Local, Bits<16>>>,
    s1_read: Vec<DFF<Bits<16>>>,
    s1_write: Vec<DFF<Bits<16>>>,
    s1_enable: Vec<DFF<Bit>>,
    /// An accumulation's group and enable, straight from the entry table's block RAM into a
    /// register (its output is slow and often far); selected against a fire operation's
    /// addresses a stage later, in front of the bank base's adder.
    s1_entry_group: Vec<DFF<Bits<16>>>,
    s1_entry_enable: Vec<DFF<Bit>>,
    /// Per bank, its state addresses and write enable down the kernel read (r1 to r3; r1
    /// adds the bank base, so they are spelled out for the three cycles asserted below).
    r1_read: Vec<DFF<Bits<16>>>,
    r1_write: Vec<DFF<Bits<16>>>,
    r1_enable: Vec<DFF<Bit>>,
    r2_read: Vec<DFF<Bits<16>>>,
    r2_write: Vec<DFF<Bits<16>>>,
    r2_enable: Vec<DFF<Bit>>,
    r3_read: Vec<DFF<Bits<16>>>,
    r3_write: Vec<DFF<Bits<16>>>,
    r3_enable: Vec<DFF<Bit>>,
    s2_write: Vec<DFF<Bits<16>>>,
    /// An accumulation's bank base, added to its group a stage after the entry is read (the
    /// entry tables' block RAM output goes straight into registers).
    s1_bank_base: DFF<Bits<16>>,
    /// The operation's shared fields in the layer's stage 1 (where the kernel address is
    /// formed), then down the kernel read to the lanes' stage 1 (`lane_op`; `lane_op_early`
    /// is the one a cycle behind it, for the group copies).
    s1: DFF<LaneOperation>,
    weight_read: Vec<DFF<LaneOperation>>,
    lane_op: Signal<Local, LaneOperation>,
    lane_op_early: Signal<Local, LaneOperation>,
    s2_fire: DFF<Bit>,
    s2_last_group: DFF<Bit>,
    s3_last_group: DFF<Bit>,
    /// Stage 2's operands and write controls, one copy per lane (as the dense layer's: a
    /// shared register would drive every lane across the chip; `scripts/synth` keeps
    /// registers named `*replica*` apart).
    use_product_replica: Vec<DFF<Bit>>,
    threshold_replica: Vec<DFF<Bits<32>>>,
    addend_replica: Vec<DFF<Bits<32>>>,
    write_enable_replica: Vec<DFF<Bit>>,
    /// Per lane: its bank's stage-1 read and stage-2 write address are equal (compared a
    /// cycle ahead, on the registers they come from), for adjacent forwarding.
    address_match_replica: Vec<DFF<Bit>>,
    /// Per lane: the next cycle's stage-1 read meets this cycle's stage-2 write, which the
    /// lane's write-back register writes then (`r2_read == s2_write` now is `r3_read ==`
    /// the write-back address then): the lane's ordinary forwarding, compared a cycle ahead.
    write_back_match_replica: Vec<DFF<Bit>>,
    /// An operation's state read address, the bank base added (into `r1_read`).
    r1_read_next: Vec<Signal<Local, Bits<16>>>,
    /// The state memory's address bits (its three regions, `3 G` words): stage 1's adders and
    /// the compares after them are only that wide (run 17: s1_bank_base through the 16-bit
    /// adder and compare into bank_address_match, 11.22 ns).
    address_mask: Constant<Bits<16>>,
    /// The two compares, a cycle earlier still, once per bank, of registers (`r1_read` with
    /// `r2_write` or `r3_write`): the replicas copy them, so a compare's fan-out to the bank's
    /// lanes is a register's (run 16: r1_read -> write_back_match_replica 10.32 ns, 31
    /// endpoints).
    bank_address_match: Vec<DFF<Bit>>,
    bank_write_back_match: Vec<DFF<Bit>>,
    write_on_spike_replica: Vec<DFF<Bit>>,
    threshold_next: Signal<Local, Bits<32>>,
    addend_next: Signal<Local, Bits<32>>,
    /// Group copies of the operands, a cycle earlier, as the dense layer's.
    threshold_early: Signal<Local, Bits<32>>,
    addend_early: Signal<Local, Bits<32>>,
    use_product_group_replica: Vec<DFF<Bit>>,
    threshold_group_replica: Vec<DFF<Bits<32>>>,
    addend_group_replica: Vec<DFF<Bits<32>>>,
    acc_bank_base: Signal<Local, Bits<16>>,
    fire_bank_base: Signal<Local, Bits<16>>,
    /// A fire or initialisation operation takes P0's slot this cycle: a register, computed a
    /// cycle ahead from the firing state's next values, because it gates the iterator (its
    /// take, the held rows, the addresses) and the fire counters across the layer: run 16's
    /// seeds 1 and 3 failed worst on that fan-out from `fire_active` (10.89 and 11.30 ns).
    fire_issue: DFF<Bit>,
    /// `fire_issue` again, for the event iterator's issue alone: `fire_issue` drives every
    /// stage-1 field and the fire counters, and its route to the iterator's take was 5.4 ns of
    /// run 20's seed 2 (`fire_issue` -> `accept_ready`, 10.40 ns).
    fire_issue_replica: DFF<Bit>,
    /// And again for the iterator's take of the next sender row alone: with one copy for the
    /// issue, the take and the iterator's counters, run 21's seed 1 failed on its 5.0 ns route
    /// to `a_take` (`fire_issue_replica` -> `a_take` -> `it_address`, 10.05 ns).
    fire_issue_take_replica: DFF<Bit>,
    fire_active_next: Signal<Local, Bit>,
    fire_phase_next: Signal<Local, Bits<2>>,
    fire_previous_next: Signal<Local, Bit>,
    // Firing and emission.
    fire_active: DFF<Bit>,
    /// 0: issuing fire steps, 1: re-initialising, 2: draining, then the end marker.
    fire_phase: DFF<Bits<2>>,
    fire_step: DFF<Bits<5>>,
    fire_group: DFF<Bits<16>>,
    /// fire_group is the last group, fire_step the last step: kept in flip-flops beside the
    /// counters (set from the counters' value before the last), because the 16-bit compare in
    /// front of the step and phase counters was the slowest path of run 15's seed 1 (10.11 ns).
    fire_group_last: DFF<Bit>,
    /// `fire_group_last` again, for the phase decision alone: the flag also selects the
    /// 16-bit group and base counters' resets, and its route to the phase and issue logic was
    /// 6.0 ns of run 20's seed 2 (`fire_group_last` -> `fire_issue`, 10.79 ns).
    fire_group_last_replica: DFF<Bit>,
    fire_step_last: DFF<Bit>,
    penultimate_group: Constant<Bits<16>>,
    penultimate_step: Constant<Bits<5>>,
    single_step: Constant<Bit>,
    fire_base: DFF<Bits<16>>,
    /// A fire step issued in the previous cycle (with one group, steps are two cycles apart).
    fire_previous: DFF<Bit>,
    single_group: Constant<Bit>,
    // A fire step's group, step and first emitted index, carried to its capture (stage 3).
    p1_group: DFF<Bits<16>>,
    p1_emit_base: DFF<Bits<16>>,
    s1_group: DFF<Bits<16>>,
    s1_emit_base: DFF<Bits<16>>,
    r1_group: DFF<Bits<16>>,
    r1_emit_base: DFF<Bits<16>>,
    r2_group: DFF<Bits<16>>,
    r2_emit_base: DFF<Bits<16>>,
    r3_group: DFF<Bits<16>>,
    r3_emit_base: DFF<Bits<16>>,
    s2_group: DFF<Bits<16>>,
    s2_emit_base: DFF<Bits<16>>,
    s2_step: DFF<Bits<5>>,
    s3_group: DFF<Bits<16>>,
    s3_emit_base: DFF<Bits<16>>,
    s3_step: DFF<Bits<5>>,
    s3_fire: DFF<Bit>,
    s4_fire: DFF<Bit>,
    s4_vector: DFF<Bits<MAX_LANES>>,
    /// Per 4 lanes of the captured vector, whether one spiked: ORed at the capture, so the
    /// chunk flags and `s5_spiked` gather 8 and 40 flip-flops, not 32 and 160 spread ones
    /// (run 16: s4_vector -> s5_spiked, queue_chunks 10.21 ns).
    capture_quads: Signal<Local, Bits<QUADS>>,
    quad_bit: Vec<Constant<Bits<QUADS>>>,
    s4_quads: DFF<Bits<QUADS>>,
    s4_step: DFF<Bits<5>>,
    s4_base: DFF<Bits<16>>,
    /// A cycle after the capture register: whether its group had spikes (the OR over the
    /// wide vector ends at this flip-flop, not at the ring's tail and count).
    s5_fire: DFF<Bit>,
    s5_spiked: DFF<Bit>,
    /// The slot after the tail, and the one the captured step writes: the tail's, or the
    /// next if the group before it turned out to have spikes (one-hot, like the head).
    tail_after: Vec<Signal<Local, Bit>>,
    write_slot: Vec<Signal<Local, Bit>>,
    /// Captured groups with spikes, waiting for emission (a ring of `QUEUE_DEPTH`); fire
    /// steps issue only while the ring has room for every step in flight.
    queue_pending: Vec<DFF<Bits<MAX_LANES>>>,
    /// Per slot, which of its chunks have a spike (gathered from the captured vector's
    /// register as it is written).
    queue_chunks: Vec<DFF<Bits<8>>>,
    queue_step: Vec<DFF<Bits<5>>>,
    queue_base: Vec<DFF<Bits<16>>>,
    /// The ring's head, a flip-flop per slot (the ring's multiplexer is then an AND-OR of
    /// its slots behind one flip-flop each, not a chain of compares): slot 0 starts at 1.
    head_select: Vec<DFFWithInit<Bit>>,
    ring_term_pending: Vec<Signal<Local, Bits<MAX_LANES>>>,
    ring_term_chunks: Vec<Signal<Local, Bits<8>>>,
    ring_term_step: Vec<Signal<Local, Bits<5>>>,
    ring_term_base: Vec<Signal<Local, Bits<16>>>,
    /// The ring's tail, a flip-flop per slot (slot 0 starts at 1).
    tail_select: Vec<DFFWithInit<Bit>>,
    queue_count: DFF<Bits<5>>,
    in_flight: DFF<Bits<5>>,
    /// The ring has room for one more fire step: fewer than `QUEUE_DEPTH - 1` steps in flight
    /// or queued, since at most one issues per cycle. Registered from the counts' next values,
    /// so it tests this cycle's counts without their adder in front of `fire_issue` (run 21's
    /// seed 1: `fire_phase` -> `fire_issue_replica`, 10.10 ns).
    room: DFFWithInit<Bit>,
    room_limit: Constant<Bits<5>>,
    /// The group whose spikes are leaving, in a register of its own (the ring's 8-way
    /// multiplexer feeds only its load, not the lowest-spike carry chains).
    head_valid: DFF<Bit>,
    head_pending: DFF<Bits<MAX_LANES>>,
    head_step: DFF<Bits<5>>,
    head_base: DFF<Bits<16>>,
    /// The head's spikes after the lowest leaves. The head takes the next group in the cycle
    /// after its last spike left: a cycle per group buys a load decided from registers only.
    rest: Signal<Local, Bits<MAX_LANES>>,
    ring_pending: Signal<Local, Bits<MAX_LANES>>,
    ring_step: Signal<Local, Bits<5>>,
    ring_base: Signal<Local, Bits<16>>,
    head_load: Signal<Local, Bit>,
    capture_vector: Signal<Local, Bits<MAX_LANES>>,
    /// The group captured two cycles ago had spikes: it joins the ring.
    push: Signal<Local, Bit>,
    pop: Signal<Local, Bit>,
    /// Per lane: candidate (always, unpooled), and spiking candidate; per window the OR of
    /// its spiking candidates, gathered lane by lane (`hit_chain[p + 1]` ends at lane `p`).
    candidate: Vec<Signal<Local, Bit>>,
    hit: Vec<Signal<Local, Bit>>,
    hit_chain: Vec<Signal<Local, Bit>>,
    window_spike: Vec<Signal<Local, Bit>>,
    pending_lanes: Signal<Local, Bits<MAX_LANES>>,
    /// Whether the head group has a spike, and more than one, per 4, 16, 64 and 256 lanes
    /// (nodes 0..64, 64..80, 80..84 and 84): whether the spike leaving is the group's last,
    /// from registers through a tree of LUTs instead of behind the lowest-spike carry chains.
    tree_any: Vec<Signal<Local, Bit>>,
    tree_many: Vec<Signal<Local, Bit>>,
    lowest: Signal<Local, Bits<MAX_LANES>>,
    /// The lowest spike found per chunk of [`EMISSION_CHUNK_LANES`] (one short carry chain
    /// each, side by side), then the first chunk that has one: a 160-lane chain was the
    /// design's worst path (run 13, 11.2 ns, 5.6 ns of it carry).
    chunk_pending: Vec<Signal<Local, Bits<32>>>,
    chunk_lowest: Vec<Signal<Local, Bits<32>>>,
    chunk_bit: Vec<Constant<Bits<8>>>,
    chunk_offset: Vec<Constant<Bits<8>>>,
    /// Which chunks of the head group have a spike: a register kept beside `head_pending`
    /// (loaded with the group, a chunk cleared when its last spike leaves), so the first
    /// chunk comes from flip-flops, not from ORs of the vector (run 14, seed 2: that loop at
    /// 10.68 ns). Whether a chunk keeps a spike comes from the head's tree of LUTs.
    chunk_flags: DFF<Bits<8>>,
    captured_chunks: Signal<Local, Bits<8>>,
    ring_chunks: Signal<Local, Bits<8>>,
    chunk_kept: Signal<Local, Bits<8>>,
    first_chunk: Signal<Local, Bits<8>>,
    chunk_found: Signal<Local, Bits<32>>,
    collected_vector: Vec<Signal<Local, Bits<MAX_LANES>>>,
    collected_offset: Vec<Signal<Local, Bits<16>>>,
    captured: Signal<Local, Bits<MAX_LANES>>,
    /// The selected spike's offset in its group: the OR of its emission lane's constant.
    selected_offset: Signal<Local, Bits<16>>,
    /// Whether the head group keeps a spike after its lowest leaves: another chunk has one,
    /// or the first chunk has two (from the chunk flags and the 32-lane nodes of the tree,
    /// not from a tree over all the lanes: run 16, seed 3, head_pending -> head_valid 11.11 ns).
    head_many: Signal<Local, Bit>,
    selected_valid: DFF<Bit>,
    selected: DFF<Bits<MAX_LANES>>,
    selected_step: DFF<Bits<5>>,
    selected_base: DFF<Bits<16>>,
    selected_free: Signal<Local, Bit>,
    emit_valid: DFF<Bit>,
    /// The event's index is its group's base plus its offset in the group, added after
    /// these registers, on the way to the spike FIFO's slots: the one-hot offset's OR tree
    /// and the adder were one path (run 16, seed 3: selected -> emit_index, 11.24 ns).
    emit_base: DFF<Bits<16>>,
    emit_lane_offset: DFF<Bits<16>>,
    emit_step: DFF<Bits<5>>,
    emit_last: DFF<Bit>,
    emit_free: Signal<Local, Bit>,
    _lanes: usize,
    _operand_groups: usize,
    _group_lanes: usize,
    _grouped_lanes: usize,
    _banks: usize,
    _channels: usize,
    _slots: usize,
    _weight_read_cycles: usize,
    _windows: usize,
    _emitters: usize,
    _candidate_lanes: usize,
    _candidate_windows: usize,
    _queue: usize,
    _chunks: usize,
    _chunk_lanes: usize,
    _sender_steps: usize,
    _steps: usize,
    _field_bits: usize,
}

fn word(datapath: Datapath, x: i64) -> Constant<Bits<32>> {
    Constant::new(datapath.pattern(x))
}

fn mask(bits: usize) -> Constant<Bits<32>> {
    Constant::new(((1u64 << bits) - 1).into())
}

impl ConvLayer {
    /// Convolution layer `layer` at `geometry` (fed by `previous`'s stage, whose spike values
    /// are `sender_values`), with `lanes` lanes.
    pub fn new(
        layer: &FsLayer,
        geometry: &Geometry,
        previous: Option<&Geometry>,
        datapath: Datapath,
        weight_bits: usize,
        sender_values: &[i64],
        lanes: usize,
    ) -> Result<Self> {
        let layout = ConvLayout::new(geometry, previous, lanes)?;
        if lanes > MAX_LANES {
            bail!("{lanes} lanes (at most {MAX_LANES})");
        }
        let Some(rom) = &layer.rom else {
            bail!("a convolution layer cannot be the output layer");
        };
        let product = SpikeProduct::of(sender_values)?;
        let steps_in = sender_values.len();
        let (sender_shift, sender_value) = product.step_operands();
        let multiply = product.multiplies();
        let grouped_lanes = if lanes > OPERAND_GROUP_LANES {
            lanes
        } else {
            0
        };
        let operand_groups = grouped_lanes.div_ceil(OPERAND_GROUP_LANES);
        let lane_blocks = (0..lanes)
            .map(|p| {
                let (_, init) = layout.lane_contents(layer, p);
                Lane::new(datapath, weight_bits, &[0], &init, multiply)
                    .with_max_shift(product.max_shift())
                    .with_registered_weights()
                    .with_adjacent_forwarding()
                    .with_layer_write_back_match()
                    .with_external_weights()
            })
            .collect();
        // A bank's lanes are its channels: every bank holds every channel's kernels.
        let field_bits = weight_bits.div_ceil(9) * 9;
        let channels = layout.channels;
        if channels * field_bits + 32 > KERNEL_PORT {
            bail!(
                "{channels} output channels of {weight_bits}-bit weights: a convolution bank \
                 holds at most {} channels",
                (KERNEL_PORT - 32) / field_bits
            );
        }
        let kernel_words: Vec<Vec<i64>> = (0..layout.columns)
            .map(|i| (0..channels).map(|c| layer.weight[[c, i]] as i64).collect())
            .collect();
        let kernels = (0..layout.banks)
            .map(|_| FieldBram::new(field_bits, &kernel_words))
            .collect();
        let (start_bits, count_bits, _) = layout.sender_fields();
        let (group_bits, _) = layout.entry_fields();
        let table = |words: Vec<i64>, bits: usize| Bram::new(bits, &words).sign_extended_to(bits);
        let sender_words = layout.sender_words();
        let sender_bits = layout.sender_word_bits();
        let entry_bits = layout.entry_word_bits();
        let slots = layout.slots;
        let windows = layout.sent_per_group();
        let emitters = windows * channels;
        let chunks = emitters.div_ceil(EMISSION_CHUNK_LANES);
        let sent_in_last = layout.positions / slots - (layout.groups - 1) * windows;
        let positions_in_last = layout.positions - (layout.groups - 1) * layout.banks;
        let emitter_mask = |n: usize| {
            // Emission lane q = window * C + channel.
            Constant::new((0..emitters).fold(Bits::<MAX_LANES>::default(), |m, q| {
                if q / channels < n {
                    m.replace_bit(q, true)
                } else {
                    m
                }
            }))
        };
        let steps = rom.k();
        Ok(ConvLayer {
            clock: Default::default(),
            event_valid: Default::default(),
            event_index: Default::default(),
            event_step: Default::default(),
            event_last: Default::default(),
            event_ready: Default::default(),
            spike_valid: Default::default(),
            spike_index: Default::default(),
            spike_step: Default::default(),
            spike_last: Default::default(),
            spike_ready: Default::default(),
            busy: Default::default(),
            saturated: Default::default(),
            load_enable: Default::default(),
            load_target: Default::default(),
            load_state: Default::default(),
            load_lane: Default::default(),
            load_address: Default::default(),
            load_data: Default::default(),
            lanes: lane_blocks,
            kernel_capture: (0..layout.banks).map(|_| Default::default()).collect(),
            kernel_word: (0..layout.banks).map(|_| Default::default()).collect(),
            kernels,
            channel_number: (0..channels)
                .map(|c| Constant::new((c as u64).into()))
                .collect(),
            lane_field: (0..lanes).map(|_| Default::default()).collect(),
            lane_weight: (0..lanes).map(|_| Default::default()).collect(),
            field_mask: Constant::new(((1u64 << field_bits) - 1).into()),
            field_extension: Constant::new(((u64::MAX << field_bits) & 0xffff_ffff).into()),
            sender_table: table(sender_words, sender_bits),
            entry_tables: (0..layout.banks)
                .map(|b| table(layout.entry_words(b), entry_bits))
                .collect(),
            candidates: (0..if slots > 1 { lanes } else { 0 })
                .map(|_| Bram::new(1, &vec![0; layout.groups]))
                .collect(),
            weight_load_target: Default::default(),
            state_load_target: Default::default(),
            weight_load_select: (0..lanes).map(|_| Default::default()).collect(),
            kernel_write_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            kernel_write_field: (0..layout.banks).map(|_| Default::default()).collect(),
            kernel_write_address: Default::default(),
            kernel_write_data: Default::default(),
            state_load_select: (0..lanes).map(|_| Default::default()).collect(),
            lane_number: (0..lanes)
                .map(|p| Constant::new((p as u64).into()))
                .collect(),
            emit_offset: (0..emitters)
                .map(|q| {
                    let (window, c) = (q / channels, q % channels);
                    Constant::new(((c * layout.sent_plane + window) as u64).into())
                })
                .collect(),
            slot_first: (0..lanes).map(|p| Constant::new(p % slots == 0)).collect(),
            saturated_group: (0..lanes.div_ceil(OPERAND_GROUP_LANES))
                .map(|_| Default::default())
                .collect(),
            lane_in_last_group: (0..lanes)
                .map(|p| Constant::new(layout.bank_channel(p).0 < positions_in_last))
                .collect(),
            sender_shift,
            sender_value,
            threshold: rom.t.iter().map(|&t| word(datapath, t)).collect(),
            reset_addend: rom.h.iter().map(|&h| word(datapath, -h)).collect(),
            start_mask: mask(start_bits),
            count_shift: Constant::new((start_bits as u64).into()),
            count_mask: mask(count_bits),
            base_shift: Constant::new(((start_bits + count_bits) as u64).into()),
            group_mask: mask(group_bits),
            offset_shift: Constant::new(((1 + group_bits) as u64).into()),
            groups: Constant::new((layout.groups as u64).into()),
            init_base: Constant::new(((2 * layout.groups) as u64).into()),
            sent_per_group: Constant::new((windows as u64).into()),
            full_group: emitter_mask(windows),
            last_group: emitter_mask(sent_in_last),
            lane_bit: (0..emitters)
                .map(|q| Constant::new(Bits::<MAX_LANES>::default().replace_bit(q, true)))
                .collect(),
            bank: Default::default(),
            accept_ready: Default::default(),
            a_accept: Default::default(),
            idle: Default::default(),
            end_accept: Default::default(),
            end_taken: Default::default(),
            read_valid: Default::default(),
            read_step: Default::default(),
            sender_word: Default::default(),
            fetched_valid: Default::default(),
            fetched_step: Default::default(),
            fetched_word: Default::default(),
            held_count: Default::default(),
            held_read: Default::default(),
            held_write: Default::default(),
            held_number: (0..3).map(|h| Constant::new((h as u64).into())).collect(),
            held_word: (0..3).map(|_| Default::default()).collect(),
            held_step: (0..3).map(|_| Default::default()).collect(),
            held_pop: Default::default(),
            held_push: Default::default(),
            held_kept: Default::default(),
            held_next: Default::default(),
            row_valid: Default::default(),
            row_word: Default::default(),
            row_step: Default::default(),
            a_take: Default::default(),
            sender_start: Default::default(),
            sender_count: Default::default(),
            sender_base: Default::default(),
            it_valid: Default::default(),
            it_address: Default::default(),
            it_remaining: Default::default(),
            it_base: Default::default(),
            it_step: Default::default(),
            it_issue: Default::default(),
            it_last: Default::default(),
            p1: Default::default(),
            p1_base: Default::default(),
            p1_read: Default::default(),
            p1_write: Default::default(),
            entry_word: (0..layout.banks).map(|_| Default::default()).collect(),
            entry_group: (0..layout.banks).map(|_| Default::default()).collect(),
            entry_offset: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_entry_offset: (0..layout.banks).map(|_| Default::default()).collect(),
            s1: Default::default(),
            weight_read: (0..WEIGHT_READ_CYCLES)
                .map(|_| Default::default())
                .collect(),
            lane_op: Default::default(),
            lane_op_early: Default::default(),
            s1_kernel_base: Default::default(),
            weight_address: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_read: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_write: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_entry_group: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_entry_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            r1_read: (0..layout.banks).map(|_| Default::default()).collect(),
            r1_write: (0..layout.banks).map(|_| Default::default()).collect(),
            r1_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            r2_read: (0..layout.banks).map(|_| Default::default()).collect(),
            r2_write: (0..layout.banks).map(|_| Default::default()).collect(),
            r2_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            r3_read: (0..layout.banks).map(|_| Default::default()).collect(),
            r3_write: (0..layout.banks).map(|_| Default::default()).collect(),
            r3_enable: (0..layout.banks).map(|_| Default::default()).collect(),
            s2_write: (0..layout.banks).map(|_| Default::default()).collect(),
            s1_bank_base: Default::default(),
            s2_fire: Default::default(),
            s2_last_group: Default::default(),
            s3_last_group: Default::default(),
            use_product_replica: (0..lanes).map(|_| Default::default()).collect(),
            threshold_replica: (0..lanes).map(|_| Default::default()).collect(),
            addend_replica: (0..lanes).map(|_| Default::default()).collect(),
            write_enable_replica: (0..lanes).map(|_| Default::default()).collect(),
            address_match_replica: (0..lanes).map(|_| Default::default()).collect(),
            write_back_match_replica: (0..lanes).map(|_| Default::default()).collect(),
            r1_read_next: (0..layout.banks).map(|_| Default::default()).collect(),
            address_mask: Constant::new(((1u64 << layout.state_address_bits()) - 1).into()),
            bank_address_match: (0..layout.banks).map(|_| Default::default()).collect(),
            bank_write_back_match: (0..layout.banks).map(|_| Default::default()).collect(),
            write_on_spike_replica: (0..lanes).map(|_| Default::default()).collect(),
            threshold_next: Default::default(),
            addend_next: Default::default(),
            threshold_early: Default::default(),
            addend_early: Default::default(),
            use_product_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            threshold_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            addend_group_replica: (0..operand_groups).map(|_| Default::default()).collect(),
            acc_bank_base: Default::default(),
            fire_bank_base: Default::default(),
            fire_issue: Default::default(),
            fire_issue_replica: Default::default(),
            fire_issue_take_replica: Default::default(),
            fire_active_next: Default::default(),
            fire_phase_next: Default::default(),
            fire_previous_next: Default::default(),
            fire_active: Default::default(),
            fire_phase: Default::default(),
            fire_step: Default::default(),
            fire_group: Default::default(),
            fire_group_last: Default::default(),
            fire_group_last_replica: Default::default(),
            fire_step_last: Default::default(),
            penultimate_group: Constant::new((layout.groups.saturating_sub(2) as u64).into()),
            penultimate_step: Constant::new((steps.saturating_sub(2) as u64).into()),
            single_step: Constant::new(steps == 1),
            fire_base: Default::default(),
            fire_previous: Default::default(),
            single_group: Constant::new(layout.groups == 1),
            p1_group: Default::default(),
            p1_emit_base: Default::default(),
            s1_group: Default::default(),
            s1_emit_base: Default::default(),
            r1_group: Default::default(),
            r1_emit_base: Default::default(),
            r2_group: Default::default(),
            r2_emit_base: Default::default(),
            r3_group: Default::default(),
            r3_emit_base: Default::default(),
            s2_group: Default::default(),
            s2_emit_base: Default::default(),
            s2_step: Default::default(),
            s3_group: Default::default(),
            s3_emit_base: Default::default(),
            s3_step: Default::default(),
            s3_fire: Default::default(),
            s4_fire: Default::default(),
            s4_vector: Default::default(),
            capture_quads: Default::default(),
            quad_bit: (0..QUADS)
                .map(|k| Constant::new(Bits::<QUADS>::default().replace_bit(k, true)))
                .collect(),
            s4_quads: Default::default(),
            s4_step: Default::default(),
            s4_base: Default::default(),
            s5_fire: Default::default(),
            s5_spiked: Default::default(),
            tail_after: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            write_slot: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            queue_pending: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            queue_chunks: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            queue_step: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            queue_base: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            head_select: (0..QUEUE_DEPTH).map(|e| DFFWithInit::new(e == 0)).collect(),
            ring_term_pending: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            ring_term_chunks: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            ring_term_step: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            ring_term_base: (0..QUEUE_DEPTH).map(|_| Default::default()).collect(),
            tail_select: (0..QUEUE_DEPTH).map(|e| DFFWithInit::new(e == 0)).collect(),
            queue_count: Default::default(),
            in_flight: Default::default(),
            room: DFFWithInit::new(true),
            room_limit: Constant::new(((QUEUE_DEPTH - 1) as u64).into()),
            head_valid: Default::default(),
            head_pending: Default::default(),
            head_step: Default::default(),
            head_base: Default::default(),
            rest: Default::default(),
            tree_any: (0..TREE_NODES).map(|_| Default::default()).collect(),
            tree_many: (0..TREE_NODES).map(|_| Default::default()).collect(),
            ring_pending: Default::default(),
            ring_step: Default::default(),
            ring_base: Default::default(),
            head_load: Default::default(),
            capture_vector: Default::default(),
            push: Default::default(),
            pop: Default::default(),
            candidate: (0..lanes).map(|_| Default::default()).collect(),
            hit: (0..lanes).map(|_| Default::default()).collect(),
            hit_chain: (0..=lanes).map(|_| Default::default()).collect(),
            window_spike: (0..emitters).map(|_| Default::default()).collect(),
            pending_lanes: Default::default(),
            lowest: Default::default(),
            chunk_pending: (0..chunks).map(|_| Default::default()).collect(),
            chunk_lowest: (0..chunks).map(|_| Default::default()).collect(),
            chunk_bit: (0..chunks)
                .map(|c| Constant::new(Bits::<8>::default().replace_bit(c, true)))
                .collect(),
            chunk_offset: (0..chunks)
                .map(|c| Constant::new(((c * EMISSION_CHUNK_LANES) as u64).into()))
                .collect(),
            chunk_flags: Default::default(),
            captured_chunks: Default::default(),
            ring_chunks: Default::default(),
            chunk_kept: Default::default(),
            first_chunk: Default::default(),
            chunk_found: Default::default(),
            collected_vector: (0..=emitters).map(|_| Default::default()).collect(),
            collected_offset: (0..=emitters).map(|_| Default::default()).collect(),
            captured: Default::default(),
            selected_offset: Default::default(),
            head_many: Default::default(),
            selected_valid: Default::default(),
            selected: Default::default(),
            selected_step: Default::default(),
            selected_base: Default::default(),
            selected_free: Default::default(),
            emit_valid: Default::default(),
            emit_base: Default::default(),
            emit_lane_offset: Default::default(),
            emit_step: Default::default(),
            emit_last: Default::default(),
            emit_free: Default::default(),
            _lanes: lanes,
            _operand_groups: operand_groups,
            _group_lanes: OPERAND_GROUP_LANES,
            _grouped_lanes: grouped_lanes,
            _banks: layout.banks,
            _channels: channels,
            _slots: slots,
            _weight_read_cycles: WEIGHT_READ_CYCLES,
            _windows: windows,
            _emitters: emitters,
            _candidate_lanes: if slots > 1 { lanes } else { 0 },
            _candidate_windows: if slots > 1 { emitters } else { 0 },
            _queue: QUEUE_DEPTH,
            _chunks: chunks,
            _chunk_lanes: EMISSION_CHUNK_LANES,
            _sender_steps: steps_in,
            _steps: steps,
            _field_bits: field_bits,
        })
    }
}

impl Logic for ConvLayer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            weight_load_target,
            kernel_write_address,
            kernel_write_data,
            state_load_target,
            bank,
            accept_ready,
            idle,
            end_taken,
            read_valid,
            read_step,
            fetched_valid,
            fetched_step,
            fetched_word,
            held_count,
            held_read,
            held_write,
            it_valid,
            it_address,
            it_remaining,
            it_base,
            it_step,
            it_last,
            p1,
            p1_base,
            s1,
            s1_kernel_base,
            p1_read,
            p1_write,
            s1_bank_base,
            s2_fire,
            s2_last_group,
            s3_last_group,
            fire_issue,
            fire_issue_replica,
            fire_issue_take_replica,
            fire_active,
            fire_phase,
            fire_step,
            fire_group,
            fire_group_last,
            fire_group_last_replica,
            fire_step_last,
            fire_base,
            fire_previous,
            p1_group,
            p1_emit_base,
            s1_group,
            s1_emit_base,
            r1_group,
            r1_emit_base,
            r2_group,
            r2_emit_base,
            r3_group,
            r3_emit_base,
            s2_group,
            s2_emit_base,
            s2_step,
            s3_group,
            s3_emit_base,
            s3_step,
            s3_fire,
            s4_fire,
            s4_vector,
            s4_quads,
            s4_step,
            s4_base,
            s5_fire,
            s5_spiked,
            queue_count,
            in_flight,
            room,
            head_valid,
            head_pending,
            chunk_flags,
            head_step,
            head_base,
            selected_valid,
            selected,
            selected_step,
            selected_base,
            emit_valid,
            emit_base,
            emit_lane_offset,
            emit_step,
            emit_last
        );
        // (The device holds a load's layer, lane and state from long before its first word.)
        self.weight_load_target.d.next = self.load_target.val() & !self.load_state.val();
        self.state_load_target.d.next = self.load_target.val() & self.load_state.val();
        clock!(self, clock, sender_table);
        self.sender_table.write_enable.next = false;
        self.sender_table.write_address.next = 0.into();
        self.sender_table.write_data.next = 0.into();
        self.acc_bank_base.next = 0.into();
        self.fire_bank_base.next = self.groups.val();
        if self.bank.q.val() {
            self.acc_bank_base.next = self.groups.val();
            self.fire_bank_base.next = 0.into();
        }

        // P0: a fire or initialisation operation has the slot, else the next entry.
        // (fire_issue's next value is computed at the end, from the firing state's.)
        self.fire_active_next.next = self.fire_active.q.val();
        self.fire_phase_next.next = self.fire_phase.q.val();
        self.fire_previous_next.next = self.fire_issue.q.val() & (self.fire_phase.q.val() == 0);
        self.it_issue.next = self.it_valid.q.val() & !self.fire_issue_replica.q.val();
        self.busy.next = self.fire_issue.q.val() | self.it_issue.val();
        self.p1.d.next.acc = self.it_issue.val();
        self.p1.d.next.fire = false;
        self.p1.d.next.init = false;
        self.p1_base.d.next = self.it_base.q.val();
        self.p1.d.next.shift = 0.into();
        self.p1.d.next.value = 0.into();
        for s in 0..self._sender_steps {
            if self.it_step.q.val().index() == s {
                self.p1.d.next.shift = self.sender_shift[s].val();
                self.p1.d.next.value = self.sender_value[s].val();
            }
        }
        self.p1.d.next.step = self.fire_step.q.val();
        self.p1_read.d.next = 0.into();
        self.p1_write.d.next = 0.into();
        self.p1.d.next.last_group = false;
        if self.it_issue.val() {
            self.it_address.d.next = self.it_address.q.val() + 1;
            self.it_remaining.d.next = self.it_remaining.q.val() - 1;
            self.it_last.d.next = self.it_remaining.q.val() == 2;
            if self.it_last.q.val() {
                self.it_valid.d.next = false;
            }
        }
        // The row fetched, or the oldest held, moves to the iterator when it is free.
        self.sender_word.next = self.sender_table.read_data.val();
        self.fetched_valid.d.next = self.read_valid.q.val();
        self.fetched_step.d.next = self.read_step.q.val();
        self.fetched_word.d.next = self.sender_word.val();
        self.row_valid.next = self.fetched_valid.q.val() | self.held_count.q.val().any();
        self.row_word.next = self.fetched_word.q.val();
        self.row_step.next = self.fetched_step.q.val();
        if self.held_count.q.val().any() {
            for h in 0..3 {
                if self.held_read.q.val() == self.held_number[h].val() {
                    self.row_word.next = self.held_word[h].q.val();
                    self.row_step.next = self.held_step[h].q.val();
                }
            }
        }
        // (`it_issue & it_last`, the issue taken from its own copy of fire_issue.)
        self.a_take.next = self.row_valid.val()
            & (!self.it_valid.q.val()
                | (!self.fire_issue_take_replica.q.val() & self.it_last.q.val()));
        self.sender_start.next = self.row_word.val() & self.start_mask.val();
        self.sender_count.next =
            (self.row_word.val() >> self.count_shift.val()) & self.count_mask.val();
        self.sender_base.next = self.row_word.val() >> self.base_shift.val();
        if self.a_take.val() {
            self.it_address.d.next = self.sender_start.val().get_bits::<16>(0);
            self.it_remaining.d.next = self.sender_count.val().get_bits::<16>(0);
            self.it_last.d.next = self.sender_count.val() == 1;
            self.it_base.d.next = self.sender_base.val().get_bits::<16>(0);
            self.it_step.d.next = self.row_step.val();
            // (A sender that feeds nothing is done here.)
            self.it_valid.d.next = self.sender_count.val().any();
        }
        // Held rows: the oldest leaves when taken; the row fetched joins them unless it is
        // taken itself.
        self.held_pop.next = self.a_take.val() & self.held_count.q.val().any();
        self.held_push.next =
            self.fetched_valid.q.val() & (self.held_count.q.val().any() | !self.a_take.val());
        self.held_kept.next = self.held_count.q.val();
        if self.held_pop.val() {
            self.held_kept.next = self.held_count.q.val() - 1;
        }
        self.held_next.next = self.held_kept.val();
        for h in 0..3 {
            self.held_word[h].clock.next = self.clock.val();
            self.held_step[h].clock.next = self.clock.val();
            self.held_word[h].d.next = self.held_word[h].q.val();
            self.held_step[h].d.next = self.held_step[h].q.val();
            if self.fetched_valid.q.val() & (self.held_write.q.val() == self.held_number[h].val()) {
                self.held_word[h].d.next = self.fetched_word.q.val();
                self.held_step[h].d.next = self.fetched_step.q.val();
            }
        }
        if self.held_pop.val() {
            self.held_read.d.next = self.held_read.q.val() + 1;
            if self.held_read.q.val() == 2 {
                self.held_read.d.next = 0.into();
            }
        }
        if self.held_push.val() {
            self.held_next.next = self.held_kept.val() + 1;
            self.held_write.d.next = self.held_write.q.val() + 1;
            if self.held_write.q.val() == 2 {
                self.held_write.d.next = 0.into();
            }
        }
        self.held_count.d.next = self.held_next.val();
        // Accept an event only while the rows held, fetched and read in the next cycle number
        // at most two: the accepted one then always finds a held slot if not taken.
        self.a_accept.next =
            self.event_valid.val() & !self.event_last.val() & self.accept_ready.q.val();
        self.event_ready.next = self.accept_ready.q.val() & !self.event_last.val();
        self.accept_ready.d.next = false;
        if self.held_next.val() == 0 {
            self.accept_ready.d.next = true;
        }
        if self.held_next.val() == 1 {
            self.accept_ready.d.next = !(self.read_valid.q.val() & self.a_accept.val());
        }
        if self.held_next.val() == 2 {
            self.accept_ready.d.next = !self.read_valid.q.val() & !self.a_accept.val();
        }
        self.read_valid.d.next = self.a_accept.val();
        self.read_step.d.next = self.event_step.val();
        self.sender_table.read_address.next = self.event_index.val();
        // End of image: once every event has issued, swap the banks if the last image fired.
        // (`idle` says so a cycle late, from registers: nothing accepted, read, fetched, held,
        // issuing or firing in the previous cycle, so nothing now.)
        self.end_accept.next = self.event_valid.val() & self.event_last.val() & self.idle.q.val();
        self.idle.d.next = !self.read_valid.q.val()
            & !self.fetched_valid.q.val()
            & !self.held_count.q.val().any()
            & !self.it_valid.q.val()
            & !self.fire_active.q.val()
            & !self.a_accept.val()
            & !self.end_accept.val()
            & !self.end_taken.q.val();
        if self.end_accept.val() {
            self.event_ready.next = true;
        }
        // (An event of the next image taken meanwhile reaches the banks a few cycles later,
        // after the swap.)
        self.end_taken.d.next = self.end_accept.val();
        if self.end_taken.q.val() {
            self.bank.d.next = !self.bank.q.val();
            self.fire_active_next.next = true;
            self.fire_phase_next.next = 0.into();
            self.fire_step.d.next = 0.into();
            self.fire_step_last.d.next = self.single_step.val();
            self.fire_group.d.next = 0.into();
            self.fire_group_last.d.next = self.single_group.val();
            self.fire_base.d.next = 0.into();
        }

        // P1: every bank's entry becomes its lanes' addresses.
        for b in 0..self._banks {
            self.entry_tables[b].clock.next = self.clock.val();
            self.entry_tables[b].read_address.next = self.it_address.q.val();
            self.entry_tables[b].write_enable.next = false;
            self.entry_tables[b].write_address.next = 0.into();
            self.entry_tables[b].write_data.next = 0.into();
            self.entry_word[b].next = self.entry_tables[b].read_data.val();
            self.entry_group[b].next = (self.entry_word[b].val() >> 1) & self.group_mask.val();
            self.entry_offset[b].next = self.entry_word[b].val() >> self.offset_shift.val();
            self.s1_entry_offset[b].clock.next = self.clock.val();
            self.s1_entry_offset[b].d.next = self.entry_offset[b].val().get_bits::<16>(0);
            self.weight_address[b].next =
                self.s1_kernel_base.q.val() + self.s1_entry_offset[b].q.val();
            self.s1_read[b].clock.next = self.clock.val();
            self.s1_write[b].clock.next = self.clock.val();
            self.s1_enable[b].clock.next = self.clock.val();
            self.s1_read[b].d.next = self.p1_read.q.val();
            self.s1_write[b].d.next = self.p1_write.q.val();
            self.s1_enable[b].d.next = self.p1.q.val().fire | self.p1.q.val().init;
            self.s1_entry_group[b].clock.next = self.clock.val();
            self.s1_entry_enable[b].clock.next = self.clock.val();
            self.s1_entry_group[b].d.next = self.entry_group[b].val().get_bits::<16>(0);
            self.s1_entry_enable[b].d.next = self.entry_word[b].val().get_bit(0);
            self.r1_read[b].clock.next = self.clock.val();
            self.r1_write[b].clock.next = self.clock.val();
            self.r1_enable[b].clock.next = self.clock.val();
            self.r2_read[b].clock.next = self.clock.val();
            self.r2_write[b].clock.next = self.clock.val();
            self.r2_enable[b].clock.next = self.clock.val();
            self.r3_read[b].clock.next = self.clock.val();
            self.r3_write[b].clock.next = self.clock.val();
            self.r3_enable[b].clock.next = self.clock.val();
            self.s2_write[b].clock.next = self.clock.val();
            self.r1_read_next[b].next =
                (self.s1_read[b].q.val() + self.s1_bank_base.q.val()) & self.address_mask.val();
            self.r1_write[b].d.next =
                (self.s1_write[b].q.val() + self.s1_bank_base.q.val()) & self.address_mask.val();
            self.r1_enable[b].d.next = self.s1_enable[b].q.val();
            if self.s1.q.val().acc {
                // (An accumulation reads and writes back the same word.)
                self.r1_read_next[b].next = (self.s1_entry_group[b].q.val()
                    + self.s1_bank_base.q.val())
                    & self.address_mask.val();
                self.r1_write[b].d.next = self.r1_read_next[b].val();
                self.r1_enable[b].d.next = self.s1_entry_enable[b].q.val();
            }
            self.r1_read[b].d.next = self.r1_read_next[b].val();
            // In two cycles, r3_read meets s2_write (address_match) or the write-back
            // address (write_back_match): what r1_read and r2_write, or r3_write, are now.
            self.bank_address_match[b].clock.next = self.clock.val();
            self.bank_address_match[b].d.next = self.r1_read[b].q.val() == self.r2_write[b].q.val();
            self.bank_write_back_match[b].clock.next = self.clock.val();
            self.bank_write_back_match[b].d.next =
                self.r1_read[b].q.val() == self.r3_write[b].q.val();
            self.r2_read[b].d.next = self.r1_read[b].q.val();
            self.r2_write[b].d.next = self.r1_write[b].q.val();
            self.r2_enable[b].d.next = self.r1_enable[b].q.val();
            self.r3_read[b].d.next = self.r2_read[b].q.val();
            self.r3_write[b].d.next = self.r2_write[b].q.val();
            self.r3_enable[b].d.next = self.r2_enable[b].q.val();
            self.s2_write[b].d.next = self.r3_write[b].q.val();
        }
        self.s1.d.next = self.p1.q.val();
        self.s1_kernel_base.d.next = self.p1_base.q.val();
        self.s1_bank_base.d.next = 0.into();
        if self.p1.q.val().acc {
            self.s1_bank_base.d.next = self.acc_bank_base.val();
        }
        // Down the kernel read to the lanes' stage 1.
        for i in 0..self._weight_read_cycles {
            self.weight_read[i].clock.next = self.clock.val();
        }
        self.weight_read[0].d.next = self.s1.q.val();
        for i in 1..self._weight_read_cycles {
            self.weight_read[i].d.next = self.weight_read[i - 1].q.val();
        }
        for last in (self._weight_read_cycles - 1)..self._weight_read_cycles {
            self.lane_op.next = self.weight_read[last].q.val();
            self.lane_op_early.next = self.weight_read[last - 1].q.val();
        }
        self.s1_group.d.next = self.p1_group.q.val();
        self.s1_emit_base.d.next = self.p1_emit_base.q.val();
        self.r1_group.d.next = self.s1_group.q.val();
        self.r1_emit_base.d.next = self.s1_emit_base.q.val();
        self.r2_group.d.next = self.r1_group.q.val();
        self.r2_emit_base.d.next = self.r1_emit_base.q.val();
        self.r3_group.d.next = self.r2_group.q.val();
        self.r3_emit_base.d.next = self.r2_emit_base.q.val();
        self.s2_group.d.next = self.r3_group.q.val();
        self.s2_emit_base.d.next = self.r3_emit_base.q.val();
        self.s2_step.d.next = self.lane_op.val().step;
        self.s3_group.d.next = self.s2_group.q.val();
        self.s3_emit_base.d.next = self.s2_emit_base.q.val();
        self.s3_step.d.next = self.s2_step.q.val();
        self.s3_fire.d.next = self.s2_fire.q.val();
        self.s2_fire.d.next = self.lane_op.val().fire;
        self.s2_last_group.d.next = self.lane_op.val().last_group;
        self.s3_last_group.d.next = self.s2_last_group.q.val();
        self.threshold_next.next = 0.into();
        self.addend_next.next = 0.into();
        for s in 0..self._steps {
            if self.lane_op.val().step.index() == s {
                self.threshold_next.next = self.threshold[s].val();
                self.addend_next.next = self.reset_addend[s].val();
            }
        }
        if self.lane_op.val().init {
            self.addend_next.next = 0.into();
        }
        self.threshold_early.next = 0.into();
        self.addend_early.next = 0.into();
        for s in 0..self._steps {
            if self.lane_op_early.val().step.index() == s {
                self.threshold_early.next = self.threshold[s].val();
                self.addend_early.next = self.reset_addend[s].val();
            }
        }
        if self.lane_op_early.val().init {
            self.addend_early.next = 0.into();
        }
        for g in 0..self._operand_groups {
            self.use_product_group_replica[g].clock.next = self.clock.val();
            self.threshold_group_replica[g].clock.next = self.clock.val();
            self.addend_group_replica[g].clock.next = self.clock.val();
            self.use_product_group_replica[g].d.next = self.lane_op_early.val().acc;
            self.threshold_group_replica[g].d.next = self.threshold_early.val();
            self.addend_group_replica[g].d.next = self.addend_early.val();
        }

        // Pooling: each lane's candidate bit (all are candidates at the first step).
        for p in 0..self._lanes {
            self.candidate[p].next = true;
        }
        for p in 0..self._candidate_lanes {
            self.candidates[p].clock.next = self.clock.val();
            // Read for the fire step in stage 2, so the bit is there at its capture.
            self.candidates[p].read_address.next = self.s2_group.q.val();
            self.candidates[p].write_address.next = self.s3_group.q.val();
            self.candidates[p].write_enable.next = false;
            self.candidates[p].write_data.next = 0.into();
            if self.s3_step.q.val().any() {
                self.candidate[p].next = self.candidates[p].read_data.val().get_bit(0);
            }
        }
        self.hit_chain[0].next = false;
        // The lanes, bank by bank (lane ((b / S) C + c) S + b % S holds bank b, channel c).
        self.saturated.next = false;
        for g in 0..self.saturated_group.len() {
            self.saturated_group[g].clock.next = self.clock.val();
            self.saturated_group[g].d.next = false;
            if self.saturated_group[g].q.val() {
                self.saturated.next = true;
            }
        }
        self.kernel_write_address.d.next = self.load_address.val();
        self.kernel_write_data.d.next = self.load_data.val();
        for b in 0..self._banks {
            self.kernels[b].clock.next = self.clock.val();
            self.kernels[b].read_address.next = self.weight_address[b].val();
            self.kernel_write_enable[b].clock.next = self.clock.val();
            self.kernel_write_field[b].clock.next = self.clock.val();
            self.kernel_write_enable[b].d.next = false;
            self.kernel_write_field[b].d.next = 0.into();
            self.kernels[b].write_enable.next = self.kernel_write_enable[b].q.val();
            self.kernels[b].write_field.next = self.kernel_write_field[b].q.val();
            self.kernels[b].write_address.next = self.kernel_write_address.q.val();
            self.kernels[b].write_data.next = self.kernel_write_data.q.val();
            self.kernel_capture[b].clock.next = self.clock.val();
            self.kernel_capture[b].d.next = self.kernels[b].read_data.val();
            self.kernel_word[b].clock.next = self.clock.val();
            self.kernel_word[b].d.next = self.kernel_capture[b].q.val();
        }
        for fb in self._field_bits..(self._field_bits + 1) {
            for sl in self._slots..(self._slots + 1) {
                for ch in self._channels..(self._channels + 1) {
                    for w in 0..self._windows {
                        for c in 0..self._channels {
                            for s in 0..self._slots {
                                self.lanes[(w * ch + c) * sl + s].weight_address.next =
                                    self.weight_address[w * sl + s].val();
                                self.lane_field[(w * ch + c) * sl + s].next =
                                    self.kernel_word[w * sl + s].q.val().get_bits::<32>(c * fb)
                                        & self.field_mask.val();
                                self.lane_weight[(w * ch + c) * sl + s].next =
                                    self.lane_field[(w * ch + c) * sl + s].val();
                                if self.lane_field[(w * ch + c) * sl + s].val().get_bit(fb - 1) {
                                    self.lane_weight[(w * ch + c) * sl + s].next =
                                        self.lane_field[(w * ch + c) * sl + s].val()
                                            | self.field_extension.val();
                                }
                                self.lanes[(w * ch + c) * sl + s].weight_in.next =
                                    self.lane_weight[(w * ch + c) * sl + s].val();
                                if self.weight_load_select[(w * ch + c) * sl + s].q.val() {
                                    self.kernel_write_enable[w * sl + s].d.next =
                                        self.load_enable.val();
                                    self.kernel_write_field[w * sl + s].d.next =
                                        self.channel_number[c].val();
                                }
                                self.lanes[(w * ch + c) * sl + s].state_address.next =
                                    self.r3_read[w * sl + s].q.val();
                                self.lanes[(w * ch + c) * sl + s].write_address.next =
                                    self.s2_write[w * sl + s].q.val();
                                self.write_enable_replica[(w * ch + c) * sl + s].d.next =
                                    (self.lane_op.val().acc | self.lane_op.val().init)
                                        & self.r3_enable[w * sl + s].q.val();
                                // Next cycle's r3_read and s2_write.
                                self.address_match_replica[(w * ch + c) * sl + s].d.next =
                                    self.bank_address_match[w * sl + s].q.val();
                                // Next cycle's r3_read and write-back address.
                                self.write_back_match_replica[(w * ch + c) * sl + s].d.next =
                                    self.bank_write_back_match[w * sl + s].q.val();
                            }
                        }
                    }
                }
            }
        }
        for p in 0..self._lanes {
            self.lanes[p].clock.next = self.clock.val();
            self.lanes[p].spike_shift.next = self.lane_op.val().shift;
            self.lanes[p].spike_value.next = self.lane_op.val().value;
            self.use_product_replica[p].clock.next = self.clock.val();
            self.threshold_replica[p].clock.next = self.clock.val();
            self.addend_replica[p].clock.next = self.clock.val();
            self.write_enable_replica[p].clock.next = self.clock.val();
            self.address_match_replica[p].clock.next = self.clock.val();
            self.lanes[p].address_match.next = self.address_match_replica[p].q.val();
            self.write_back_match_replica[p].clock.next = self.clock.val();
            self.lanes[p].write_back_match.next = self.write_back_match_replica[p].q.val();
            self.write_on_spike_replica[p].clock.next = self.clock.val();
            self.use_product_replica[p].d.next = self.lane_op.val().acc;
            self.threshold_replica[p].d.next = self.threshold_next.val();
            self.addend_replica[p].d.next = self.addend_next.val();
            self.write_on_spike_replica[p].d.next = self.lane_op.val().fire;
            self.lanes[p].use_product.next = self.use_product_replica[p].q.val();
            self.lanes[p].addend.next = self.addend_replica[p].q.val();
            self.lanes[p].threshold.next = self.threshold_replica[p].q.val();
            self.lanes[p].write_enable.next = self.write_enable_replica[p].q.val();
            self.lanes[p].write_on_spike.next = self.write_on_spike_replica[p].q.val();
            self.weight_load_select[p].clock.next = self.clock.val();
            self.state_load_select[p].clock.next = self.clock.val();
            self.weight_load_select[p].d.next = self.weight_load_target.q.val()
                & (self.load_lane.val() == self.lane_number[p].val());
            self.state_load_select[p].d.next = self.state_load_target.q.val()
                & (self.load_lane.val() == self.lane_number[p].val());
            self.lanes[p].weight_write_enable.next =
                self.load_enable.val() & self.weight_load_select[p].q.val();
            self.lanes[p].state_write_enable.next =
                self.load_enable.val() & self.state_load_select[p].q.val();
            self.lanes[p].weight_write_address.next = self.load_address.val();
            self.lanes[p].weight_write_data.next = self.load_data.val();
            for gl in self._group_lanes..(self._group_lanes + 1) {
                if self.lanes[p].saturated.val()
                    & (!self.s3_last_group.q.val() | self.lane_in_last_group[p].val())
                {
                    self.saturated_group[p / gl].d.next = true;
                }
            }
            // Pooling: a lane's spike counts while it is a candidate of its window.
            self.hit[p].next = self.lanes[p].spike_registered.val() & self.candidate[p].val();
            self.hit_chain[p + 1].next = self.hit[p].val();
            if !self.slot_first[p].val() {
                self.hit_chain[p + 1].next = self.hit_chain[p].val() | self.hit[p].val();
            }
        }
        for gl in self._group_lanes..(self._group_lanes + 1) {
            for p in 0..self._grouped_lanes {
                self.use_product_replica[p].d.next = self.use_product_group_replica[p / gl].q.val();
                self.threshold_replica[p].d.next = self.threshold_group_replica[p / gl].q.val();
                self.addend_replica[p].d.next = self.addend_group_replica[p / gl].q.val();
            }
        }
        // Each emission lane's spike: its window's (pooled) or its lane's.
        for sl in self._slots..(self._slots + 1) {
            for q in 0..self._emitters {
                self.window_spike[q].next = self.hit_chain[q * sl + sl].val();
            }
        }
        self.collected_vector[0].next = 0.into();
        self.collected_offset[0].next = 0.into();
        for q in 0..self._emitters {
            self.collected_vector[q + 1].next = self.collected_vector[q].val();
            if self.window_spike[q].val() {
                self.collected_vector[q + 1].next =
                    self.collected_vector[q].val() | self.lane_bit[q].val();
            }
            self.collected_offset[q + 1].next = self.collected_offset[q].val();
            if self.selected.q.val().get_bit(q) {
                self.collected_offset[q + 1].next =
                    self.collected_offset[q].val() | self.emit_offset[q].val();
            }
        }
        self.captured.next = 0.into();
        self.selected_offset.next = 0.into();
        for q in (self._emitters - 1)..self._emitters {
            self.captured.next = self.collected_vector[q + 1].val();
            self.selected_offset.next = self.collected_offset[q + 1].val();
        }

        // Capture (stage 3 of a fire step: the lanes' registered spikes): a group with spikes
        // joins the queue.
        self.capture_vector.next = self.captured.val() & self.full_group.val();
        if self.s3_last_group.q.val() {
            self.capture_vector.next = self.captured.val() & self.last_group.val();
        }
        // Captured into registers first (the lanes are spread wide; the ring's write enables
        // are not also at the end of that route).
        self.s4_fire.d.next = self.s3_fire.q.val();
        self.s4_vector.d.next = self.capture_vector.val();
        self.capture_quads.next = 0.into();
        for k in 0..64 {
            if self.capture_vector.val().get_bits::<4>(4 * k).any() {
                self.capture_quads.next = self.capture_quads.val() | self.quad_bit[k].val();
            }
        }
        self.s4_quads.d.next = self.capture_quads.val();
        self.s4_step.d.next = self.s3_step.q.val();
        self.s4_base.d.next = self.s3_emit_base.q.val();
        self.s5_fire.d.next = self.s4_fire.q.val();
        self.captured_chunks.next = 0.into();
        for c in 0..self._chunks {
            if self.s4_quads.q.val().get_bits::<8>(8 * c).any() {
                self.captured_chunks.next = self.captured_chunks.val() | self.chunk_bit[c].val();
            }
        }
        self.s5_spiked.d.next = self.s4_fire.q.val() & self.s4_quads.q.val().any();
        self.push.next = self.s5_spiked.q.val();
        for e in 0..self._queue {
            self.queue_pending[e].clock.next = self.clock.val();
            self.queue_chunks[e].clock.next = self.clock.val();
            self.queue_chunks[e].d.next = self.queue_chunks[e].q.val();
            self.queue_step[e].clock.next = self.clock.val();
            self.queue_base[e].clock.next = self.clock.val();
            self.queue_pending[e].d.next = self.queue_pending[e].q.val();
            self.queue_step[e].d.next = self.queue_step[e].q.val();
            self.queue_base[e].d.next = self.queue_base[e].q.val();
        }
        // Masked to the layer's emitters, so that the vector and its carry chains are only as
        // wide as the layer (the register's other bits are then constant and trimmed).
        self.pending_lanes.next = self.head_pending.q.val() & self.full_group.val();
        for k in 0..64 {
            self.tree_any[k].next = self.pending_lanes.val().get_bits::<4>(4 * k).any();
            self.tree_many[k].next = (self.pending_lanes.val().get_bit(4 * k)
                & (self.pending_lanes.val().get_bit(4 * k + 1)
                    | self.pending_lanes.val().get_bit(4 * k + 2)
                    | self.pending_lanes.val().get_bit(4 * k + 3)))
                | (self.pending_lanes.val().get_bit(4 * k + 1)
                    & (self.pending_lanes.val().get_bit(4 * k + 2)
                        | self.pending_lanes.val().get_bit(4 * k + 3)))
                | (self.pending_lanes.val().get_bit(4 * k + 2)
                    & self.pending_lanes.val().get_bit(4 * k + 3));
        }
        // Each 16-lane node from its four children, which start at node `4 n - 256`.
        for n in 64..80 {
            self.tree_any[n].next = self.tree_any[4 * n - 256].val()
                | self.tree_any[4 * n - 255].val()
                | self.tree_any[4 * n - 254].val()
                | self.tree_any[4 * n - 253].val();
            self.tree_many[n].next = self.tree_many[4 * n - 256].val()
                | self.tree_many[4 * n - 255].val()
                | self.tree_many[4 * n - 254].val()
                | self.tree_many[4 * n - 253].val()
                | (self.tree_any[4 * n - 256].val()
                    & (self.tree_any[4 * n - 255].val()
                        | self.tree_any[4 * n - 254].val()
                        | self.tree_any[4 * n - 253].val()))
                | (self.tree_any[4 * n - 255].val()
                    & (self.tree_any[4 * n - 254].val() | self.tree_any[4 * n - 253].val()))
                | (self.tree_any[4 * n - 254].val() & self.tree_any[4 * n - 253].val());
        }
        for cl in self._chunk_lanes..(self._chunk_lanes + 1) {
            for c in 0..self._chunks {
                self.chunk_pending[c].next = self.pending_lanes.val().get_bits::<32>(c * cl);
                self.chunk_lowest[c].next =
                    self.chunk_pending[c].val() & (!self.chunk_pending[c].val() + 1);
            }
        }
        self.first_chunk.next = self.chunk_flags.q.val() & (!self.chunk_flags.q.val() + 1);
        // A chunk (16-lane tree nodes 64 + 2c and 65 + 2c) keeps a spike after its lowest
        // leaves when it has two.
        self.chunk_kept.next = 0.into();
        for c in 0..self._chunks {
            if self.tree_many[64 + 2 * c].val()
                | self.tree_many[65 + 2 * c].val()
                | (self.tree_any[64 + 2 * c].val() & self.tree_any[65 + 2 * c].val())
            {
                self.chunk_kept.next = self.chunk_kept.val() | self.chunk_bit[c].val();
            }
        }
        // (The chunk flags follow the head's spikes chunk by chunk, so another flag than the
        // first means another spike.)
        self.head_many.next = (self.chunk_flags.q.val() & !self.first_chunk.val()).any()
            | self.chunk_kept.val().any();
        self.lowest.next = 0.into();
        for c in 0..self._chunks {
            // (Through `chunk_found`: the cast's width is taken outside the loop.)
            self.chunk_found.next = self.chunk_lowest[c].val();
            if self.first_chunk.val().get_bit(c) {
                self.lowest.next = self.lowest.val()
                    | (bit_cast::<MAX_LANES, 32>(self.chunk_found.val())
                        << self.chunk_offset[c].val());
            }
        }
        self.rest.next = self.pending_lanes.val() & !self.lowest.val();

        // Output events leave from a register; the head group's lowest spike moves to
        // `selected` first (emission is two stages, as in the dense layer).
        self.spike_valid.next = self.emit_valid.q.val();
        self.spike_index.next = self.emit_base.q.val() + self.emit_lane_offset.q.val();
        self.spike_step.next = self.emit_step.q.val();
        self.spike_last.next = self.emit_last.q.val();
        self.emit_free.next = !self.emit_valid.q.val() | self.spike_ready.val();
        if self.emit_free.val() {
            self.emit_valid.d.next = false;
        }
        self.selected_free.next = !self.selected_valid.q.val() | self.emit_free.val();
        if self.emit_free.val() & self.selected_valid.q.val() {
            self.emit_valid.d.next = true;
            self.emit_base.d.next = self.selected_base.q.val();
            self.emit_lane_offset.d.next = self.selected_offset.val();
            self.emit_step.d.next = self.selected_step.q.val();
            self.emit_last.d.next = false;
            self.selected_valid.d.next = false;
        }
        // The ring's oldest group, selected apart from the head's own update (whose `rest`
        // then passes one multiplexer, not the 8-way selection).
        self.ring_pending.next = 0.into();
        self.ring_chunks.next = 0.into();
        self.ring_step.next = 0.into();
        self.ring_base.next = 0.into();
        for e in 0..self._queue {
            self.ring_term_pending[e].next = 0.into();
            self.ring_term_chunks[e].next = 0.into();
            self.ring_term_step[e].next = 0.into();
            self.ring_term_base[e].next = 0.into();
            if self.head_select[e].q.val() {
                self.ring_term_pending[e].next = self.queue_pending[e].q.val();
                self.ring_term_chunks[e].next = self.queue_chunks[e].q.val();
                self.ring_term_step[e].next = self.queue_step[e].q.val();
                self.ring_term_base[e].next = self.queue_base[e].q.val();
            }
            self.ring_pending.next = self.ring_pending.val() | self.ring_term_pending[e].val();
            self.ring_chunks.next = self.ring_chunks.val() | self.ring_term_chunks[e].val();
            self.ring_step.next = self.ring_step.val() | self.ring_term_step[e].val();
            self.ring_base.next = self.ring_base.val() | self.ring_term_base[e].val();
        }
        self.head_load.next = !self.head_valid.q.val();
        if self.head_valid.q.val() & self.selected_free.val() {
            self.selected_valid.d.next = true;
            self.selected.d.next = self.lowest.val();
            self.selected_step.d.next = self.head_step.q.val();
            self.selected_base.d.next = self.head_base.q.val();
            self.head_pending.d.next = self.rest.val();
            self.chunk_flags.d.next =
                self.chunk_flags.q.val() & !(self.first_chunk.val() & !self.chunk_kept.val());
            if !self.head_many.val() {
                self.head_valid.d.next = false;
            }
        }
        // The head takes the ring's oldest group.
        self.pop.next = self.head_load.val() & self.queue_count.q.val().any();
        if self.pop.val() {
            self.head_valid.d.next = true;
            self.head_pending.d.next = self.ring_pending.val();
            self.chunk_flags.d.next = self.ring_chunks.val();
            self.head_step.d.next = self.ring_step.val();
            self.head_base.d.next = self.ring_base.val();
        }
        // The head moves on a slot (a rotation of its one-hot flip-flops) at every pop.
        for e in 0..self._queue {
            self.head_select[e].clock.next = self.clock.val();
            self.head_select[e].d.next = self.head_select[e].q.val();
        }
        if self.pop.val() {
            for e in 1..self._queue {
                self.head_select[e].d.next = self.head_select[e - 1].q.val();
            }
            for last in (self._queue - 1)..self._queue {
                self.head_select[0].d.next = self.head_select[last].q.val();
            }
        }
        // Every captured step writes a free slot (`room` counted it in flight): the tail's,
        // or the next one while the group written before it joins the ring. A group moves
        // the tail on a cycle after its capture, once the OR says it has spikes (the slots'
        // write enables and the tail then come from registers, not from that OR).
        for e in 1..self._queue {
            self.tail_after[e].next = self.tail_select[e - 1].q.val();
        }
        for last in (self._queue - 1)..self._queue {
            self.tail_after[0].next = self.tail_select[last].q.val();
        }
        for e in 0..self._queue {
            self.tail_select[e].clock.next = self.clock.val();
            self.tail_select[e].d.next = self.tail_select[e].q.val();
            self.write_slot[e].next = self.tail_select[e].q.val();
            if self.push.val() {
                self.tail_select[e].d.next = self.tail_after[e].val();
                self.write_slot[e].next = self.tail_after[e].val();
            }
            if self.s4_fire.q.val() & self.write_slot[e].val() {
                self.queue_pending[e].d.next = self.s4_vector.q.val();
                self.queue_chunks[e].d.next = self.captured_chunks.val();
                self.queue_step[e].d.next = self.s4_step.q.val();
                self.queue_base[e].d.next = self.s4_base.q.val();
            }
        }
        if self.push.val() & !self.pop.val() {
            self.queue_count.d.next = self.queue_count.q.val() + 1;
        }
        if self.pop.val() & !self.push.val() {
            self.queue_count.d.next = self.queue_count.q.val() - 1;
        }
        // Fire steps in flight between their issue and their push (two cycles after the
        // capture).
        if self.fire_issue.q.val() & (self.fire_phase.q.val() == 0) & !self.s5_fire.q.val() {
            self.in_flight.d.next = self.in_flight.q.val() + 1;
        }
        if self.s5_fire.q.val() & !(self.fire_issue.q.val() & (self.fire_phase.q.val() == 0)) {
            self.in_flight.d.next = self.in_flight.q.val() - 1;
        }
        self.room.d.next =
            (self.in_flight.d.val() + self.queue_count.d.val()) < self.room_limit.val();

        // Fire: one fire step per slot, step by step, group by group (phase 0); then every
        // group's re-initialisation (1); once every spike has left, the end marker (2).
        if self.fire_issue.q.val() {
            self.p1.d.next.acc = false;
            self.p1_group.d.next = self.fire_group.q.val();
            self.p1_emit_base.d.next = self.fire_base.q.val();
            self.p1.d.next.last_group = self.fire_group_last.q.val();
            self.p1_write.d.next = self.fire_bank_base.val() + self.fire_group.q.val();
            self.fire_group.d.next = self.fire_group.q.val() + 1;
            self.fire_group_last.d.next = self.fire_group.q.val() == self.penultimate_group.val();
            self.fire_base.d.next = self.fire_base.q.val() + self.sent_per_group.val();
            if self.fire_phase.q.val() == 0 {
                self.p1.d.next.fire = true;
                self.p1_read.d.next = self.fire_bank_base.val() + self.fire_group.q.val();
                if self.fire_group_last.q.val() {
                    self.fire_group.d.next = 0.into();
                    self.fire_group_last.d.next = self.single_group.val();
                    self.fire_base.d.next = 0.into();
                    self.fire_step.d.next = self.fire_step.q.val() + 1;
                    self.fire_step_last.d.next =
                        self.fire_step.q.val() == self.penultimate_step.val();
                }
                if self.fire_group_last_replica.q.val() & self.fire_step_last.q.val() {
                    self.fire_phase_next.next = 1.into();
                }
            } else {
                self.p1.d.next.init = true;
                self.p1_read.d.next = self.init_base.val() + self.fire_group.q.val();
                if self.fire_group_last.q.val() {
                    self.fire_group.d.next = 0.into();
                    self.fire_group_last.d.next = self.single_group.val();
                }
                if self.fire_group_last_replica.q.val() {
                    self.fire_phase_next.next = 2.into();
                }
            }
        }
        if self.fire_active.q.val()
            & (self.fire_phase.q.val() == 2)
            & !self.in_flight.q.val().any()
            & !self.queue_count.q.val().any()
            & !self.head_valid.q.val()
            & !self.selected_valid.q.val()
            & self.emit_free.val()
        {
            self.emit_valid.d.next = true;
            self.emit_base.d.next = 0.into();
            self.emit_lane_offset.d.next = 0.into();
            self.emit_step.d.next = 0.into();
            self.emit_last.d.next = true;
            self.fire_active_next.next = false;
        }
        self.fire_active.d.next = self.fire_active_next.val();
        self.fire_phase.d.next = self.fire_phase_next.val();
        self.fire_group_last_replica.d.next = self.fire_group_last.d.val();
        self.fire_previous.d.next = self.fire_previous_next.val();
        // (Firing goes on, or starts: the end of firing, the one other change to
        // `fire_active`, comes only in phase 2, when no step issues, so the issue need not
        // wait for its test of the emitter.)
        self.fire_issue.d.next = (self.fire_active.q.val() | self.end_taken.q.val())
            & (((self.fire_phase_next.val() == 0)
                & self.room.q.val()
                & !(self.single_group.val() & self.fire_previous_next.val()))
                | (self.fire_phase_next.val() == 1));
        self.fire_issue_replica.d.next = self.fire_issue.d.val();
        self.fire_issue_take_replica.d.next = self.fire_issue.d.val();
        // The windows' candidates after this step: those that spiked, if any did.
        if self.s3_fire.q.val() {
            for sl in self._slots..(self._slots + 1) {
                for q in 0..self._candidate_windows {
                    for s in 0..self._slots {
                        self.candidates[q * sl + s].write_enable.next = true;
                        if self.window_spike[q].val() {
                            if self.hit[q * sl + s].val() {
                                self.candidates[q * sl + s].write_data.next = 1.into();
                            }
                        } else if self.candidate[q * sl + s].val() {
                            self.candidates[q * sl + s].write_data.next = 1.into();
                        }
                    }
                }
            }
        }
    }
}
