//! Where a convolution layer keeps its neurons and how its input events reach them: the one
//! definition of the [`crate::core::conv_layer::ConvLayer`]'s lanes, banks, tables and
//! memory contents, used by the RTL built with them and by the run-time loader
//! ([`crate::protocol::requests`]).
//!
//! - **Positions.** The layer's map positions are numbered `n`: raster order (`y W + x`), or,
//!   when the layer is max-pooled, window by window (the pooled position `(wy, wx)`, then its
//!   slot), so that a window's neurons fire together. The slot of `(dy, dx)` in its window is
//!   rotated from window to window, `(dy w + dx + a wy + b wx) mod S`: a receptive field
//!   then spreads evenly over the banks (without it, bank `b` of a `S`-bank layer holds one
//!   slot, and a 5x5 field feeds 9 neurons of one slot and 4 of another: 9 cycles per event
//!   instead of 7). `(a, b)` is the rotation with the fewest entries over all senders; the
//!   pooling ORs the window's slots, whatever their order.
//! - **Banks and lanes.** Position `n` is in bank `b = n mod B`, group `g = n div B`. Lane
//!   `(b, c)` holds the neurons of output channel `c` in bank `b`, one state word per group,
//!   and a copy of channel `c`'s kernels. Lanes are numbered so that a window's slots are
//!   neighbours: `((b div S) C + c) S + b mod S` (`S` = the window's slots, 1 unpooled).
//!   Firing group `g` fires positions `g B .. g B + B - 1` of every channel, and its spikes
//!   leave position by position, channel by channel: the bus order of
//!   [`fs_model::geometry::send_order`], whatever `B`.
//! - **Tables.** An input event of sender `i` (a neuron of the previous stage, through its
//!   average-pooling window if it has one) at input channel `ci` and spatial position `s`
//!   reads the sender table: the first entry of `s`, their count `E_s`, and the column base
//!   `ci k^2`. Entry `e` of bank `b` names one neuron of the bank that `s` feeds (its group) and
//!   the kernel offset `ky k + kx` of the weight that connects them, or nothing; every bank
//!   works through its `E_s` entries in parallel, one per cycle.

use anyhow::{Result, bail, ensure};
use fs_model::geometry::{Geometry, LayerKind, PoolKind};
use fs_model::network::FsLayer;

/// One sender's row of the sender table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderRow {
    pub start: usize,
    pub count: usize,
    pub column_base: usize,
}

/// One entry of a bank's table: the group of the neuron fed and the kernel offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub group: usize,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvLayout {
    /// Output channels `C`.
    pub channels: usize,
    /// Banks `B`: lanes per channel.
    pub banks: usize,
    /// Slots of a pooling window (`w^2`; 1 without max pooling).
    pub slots: usize,
    /// Groups `G = ceil(positions / B)`: state words per bank.
    pub groups: usize,
    /// Positions of the layer's map.
    pub positions: usize,
    /// Positions of the map it sends (pooled, or its own).
    pub sent_plane: usize,
    /// Weights per kernel (`in_channels k^2`).
    pub columns: usize,
    pub senders: Vec<SenderRow>,
    /// How the map positions are numbered.
    pub numbering: Numbering,
    /// Per bank, the entries of every spatial input position (`None`: the bank has nothing to
    /// do in that cycle).
    pub entries: Vec<Vec<Option<Entry>>>,
}

/// The neurons of one max-pooling window of a convolution at `geometry` (1 when it is not
/// max-pooled): the lanes that fire together for one pooled neuron. Fails, saying why, when
/// the windows do not tile the map (the only max pooling the hardware does).
pub fn pool_slots(geometry: &Geometry) -> Result<usize> {
    let map = geometry.neurons;
    match geometry.pool {
        Some(p) if p.kind == PoolKind::Max => {
            ensure!(
                p.stride == p.window && map.height % p.window == 0 && map.width % p.window == 0,
                "max-pools {0}x{0} windows with stride {1} on a {2}x{3} map: the RTL pools \
                 windows that tile the map",
                p.window,
                p.stride,
                map.height,
                map.width
            );
            Ok(p.window * p.window)
        }
        _ => Ok(1),
    }
}

/// How a layer numbers its map positions (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Numbering {
    map_width: usize,
    window: usize,
    slots: usize,
    /// `(a, b)`: window `(wy, wx)` rotates its slots by `a wy + b wx`.
    rotation: (usize, usize),
}

impl Numbering {
    /// The number `n` of map position `(y, x)`.
    pub fn number(&self, y: usize, x: usize) -> usize {
        if self.slots == 1 {
            return y * self.map_width + x;
        }
        let w = self.window;
        let (wy, wx) = (y / w, x / w);
        let slot = ((y % w) * w + x % w + self.rotation.0 * wy + self.rotation.1 * wx) % self.slots;
        (wy * (self.map_width / w) + wx) * self.slots + slot
    }
}

/// Per bank the entries of every spatial input position, and per position its first entry and
/// entry count: channel 0's receivers, numbered by `numbering`.
#[allow(clippy::type_complexity)]
fn tables(
    geometry: &Geometry,
    banks: usize,
    numbering: &Numbering,
) -> (Vec<Vec<Option<Entry>>>, Vec<(usize, usize)>) {
    let map = geometry.neurons;
    let plane = map.height * map.width;
    let input_plane = geometry.input.height * geometry.input.width;
    let mut entries = vec![Vec::new(); banks];
    let mut first = Vec::with_capacity(input_plane);
    for s in 0..input_plane {
        let mut per_bank = vec![Vec::new(); banks];
        for (j, column) in geometry.receivers(s) {
            if j >= plane {
                continue; // other output channels: the same positions, other lanes
            }
            let n = numbering.number(j / map.width, j % map.width);
            per_bank[n % banks].push(Entry {
                group: n / banks,
                offset: column,
            });
        }
        let count = per_bank.iter().map(Vec::len).max().unwrap_or(0);
        first.push((entries[0].len(), count));
        for (bank, list) in entries.iter_mut().zip(per_bank) {
            let padding = count - list.len();
            bank.extend(list.into_iter().map(Some));
            bank.extend(std::iter::repeat_n(None, padding));
        }
    }
    (entries, first)
}

/// Bits to hold every value up to `max` (at least 1).
fn bits_for(max: usize) -> usize {
    (usize::BITS - max.leading_zeros()).max(1) as usize
}

impl ConvLayout {
    /// The layout of a convolution layer at `geometry` (fed by `previous`'s stage) with
    /// `lanes` lanes.
    pub fn new(geometry: &Geometry, previous: Option<&Geometry>, lanes: usize) -> Result<Self> {
        let LayerKind::Conv2d { kernel, .. } = geometry.kind else {
            bail!("not a convolution layer");
        };
        let map = geometry.neurons;
        let channels = map.channels;
        let plane = map.height * map.width;
        let slots = pool_slots(geometry)?;
        ensure!(
            lanes > 0 && lanes % (channels * slots) == 0,
            "{lanes} lanes: a convolution layer needs a multiple of its {channels} output \
             channels{}",
            if slots > 1 {
                format!(" times the {slots} neurons of a pooling window")
            } else {
                String::new()
            }
        );
        let banks = lanes / channels;
        let groups = plane.div_ceil(banks);
        let input = geometry.input;
        let input_plane = input.height * input.width;
        let columns = input.channels * kernel * kernel;
        let rotations = if slots > 1 { slots } else { 1 };
        let (numbering, (entries, first)) = (0..rotations * rotations)
            .map(|r| {
                let numbering = Numbering {
                    map_width: map.width,
                    window: geometry.pool.map_or(1, |p| p.window),
                    slots,
                    rotation: (r / rotations, r % rotations),
                };
                let tables = tables(geometry, banks, &numbering);
                (numbering, tables)
            })
            .min_by_key(|(_, (entries, _))| entries[0].len())
            .expect("one rotation at least");
        // Senders: the previous stage's neurons, through their average-pooling window.
        let row = |p: usize| {
            let (start, count) = first[p % input_plane];
            SenderRow {
                start,
                count,
                column_base: p / input_plane * kernel * kernel,
            }
        };
        let senders = match previous.and_then(|g| g.pool.map(|p| (g, p))) {
            Some((g, pool)) if pool.kind == PoolKind::Avg => {
                let mut rows = vec![
                    SenderRow {
                        start: 0,
                        count: 0,
                        column_base: 0
                    };
                    g.neurons.size()
                ];
                for (p, members) in pool.windows(g.neurons, g.output).into_iter().enumerate() {
                    for m in members {
                        rows[m] = row(p);
                    }
                }
                rows
            }
            _ => (0..input.size()).map(row).collect(),
        };
        let table_depth = entries[0].len();
        ensure!(
            table_depth <= 1 << 16 && groups * 3 <= 1 << 16 && senders.len() <= 1 << 16,
            "the layer's tables ({table_depth} entries per bank, {groups} groups, {} senders) \
             exceed 65,536 words",
            senders.len()
        );
        let layout = ConvLayout {
            channels,
            banks,
            slots,
            groups,
            positions: plane,
            // (An average-pooled layer sends its own neurons.)
            sent_plane: plane / slots,
            columns,
            senders,
            numbering,
            entries,
        };
        ensure!(
            layout.sender_word_bits() <= 32 && layout.entry_word_bits() <= 32,
            "the layer's table words need {} and {} bits (at most 32)",
            layout.sender_word_bits(),
            layout.entry_word_bits()
        );
        Ok(layout)
    }

    pub fn lanes(&self) -> usize {
        self.banks * self.channels
    }

    /// Pooled positions per group (`B / S`), or positions per group unpooled.
    pub fn sent_per_group(&self) -> usize {
        self.banks / self.slots
    }

    /// The lane of bank `b`, channel `c`.
    pub fn lane(&self, b: usize, c: usize) -> usize {
        ((b / self.slots) * self.channels + c) * self.slots + b % self.slots
    }

    /// The bank and channel of lane `p`.
    pub fn bank_channel(&self, p: usize) -> (usize, usize) {
        let (q, s) = (p / self.slots, p % self.slots);
        ((q / self.channels) * self.slots + s, q % self.channels)
    }

    /// Field widths of a sender-table word: start, count, column base.
    pub fn sender_fields(&self) -> (usize, usize, usize) {
        let max = |f: fn(&SenderRow) -> usize| self.senders.iter().map(f).max().unwrap_or(0);
        (
            bits_for(self.entries[0].len()),
            bits_for(max(|r| r.count)),
            bits_for(max(|r| r.column_base)),
        )
    }

    pub fn sender_word_bits(&self) -> usize {
        let (a, b, c) = self.sender_fields();
        a + b + c
    }

    /// Field widths of an entry word after its valid bit: group, kernel offset.
    pub fn entry_fields(&self) -> (usize, usize) {
        (bits_for(self.groups - 1), bits_for(self.columns - 1))
    }

    /// Address bits of a lane's state memory: its three regions of `G` words (the two maps'
    /// accumulators and the initial values).
    pub fn state_address_bits(&self) -> usize {
        bits_for(3 * self.groups - 1)
    }

    pub fn entry_word_bits(&self) -> usize {
        let (g, o) = self.entry_fields();
        1 + g + o
    }

    /// The sender table as words: `start | count << a | column_base << (a + b)`.
    pub fn sender_words(&self) -> Vec<i64> {
        let (a, b, _) = self.sender_fields();
        self.senders
            .iter()
            .map(|r| (r.start | r.count << a | r.column_base << (a + b)) as i64)
            .collect()
    }

    /// Bank `b`'s table as words: `valid | group << 1 | offset << (1 + g)`.
    pub fn entry_words(&self, b: usize) -> Vec<i64> {
        let (g, _) = self.entry_fields();
        let words: Vec<i64> = self.entries[b]
            .iter()
            .map(|e| e.map_or(0, |e| (1 | e.group << 1 | e.offset << (1 + g)) as i64))
            .collect();
        if words.is_empty() { vec![0] } else { words }
    }

    /// The memory contents of lane `p` for `layer`: its channel's kernels (column order) and
    /// the initial values `B + IMP` of its groups (zeros past the last position).
    pub fn lane_contents(&self, layer: &FsLayer, p: usize) -> (Vec<i64>, Vec<i64>) {
        let (b, c) = self.bank_channel(p);
        let weights = (0..self.columns)
            .map(|i| layer.weight[[c, i]] as i64)
            .collect();
        let init = (0..self.groups)
            .map(|g| {
                if g * self.banks + b < self.positions {
                    layer.bias[c] as i64 + layer.imp as i64
                } else {
                    0
                }
            })
            .collect();
        (weights, init)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_model::geometry::{Pool, Shape};

    fn conv(
        input: Shape,
        out: usize,
        k: usize,
        s: usize,
        p: usize,
        pool: Option<Pool>,
    ) -> Geometry {
        let kind = LayerKind::Conv2d {
            kernel: k,
            stride: s,
            padding: p,
        };
        Geometry::new(kind, input, (out, input.channels * k * k), pool).unwrap()
    }

    /// Every (sender, receiver, column) of the golden model's fan-out appears exactly once in
    /// the tables, for every bank count, pooled or not.
    #[test]
    fn the_tables_reach_exactly_the_golden_receivers() {
        let input = Shape {
            channels: 2,
            height: 6,
            width: 6,
        };
        let max = Some(Pool {
            kind: PoolKind::Max,
            window: 2,
            stride: 2,
        });
        for (g, banks) in [
            (conv(input, 3, 3, 1, 1, None), vec![1, 2, 5, 7]),
            (conv(input, 3, 3, 2, 1, None), vec![1, 3]),
            (conv(input, 2, 3, 1, 1, max), vec![4, 8, 12]),
        ] {
            for b in banks {
                let layout = ConvLayout::new(&g, None, b * g.neurons.channels).unwrap();
                let plane = g.neurons.height * g.neurons.width;
                for (i, row) in layout.senders.iter().enumerate() {
                    let mut got = Vec::new();
                    for e in row.start..row.start + row.count {
                        for bank in 0..layout.banks {
                            if let Some(entry) = layout.entries[bank][e] {
                                got.push((entry.group * layout.banks + bank, entry.offset));
                            }
                        }
                    }
                    // Golden: channel 0's receivers, their positions renumbered.
                    let mut want: Vec<(usize, usize)> = g
                        .receivers(i)
                        .into_iter()
                        .filter(|&(j, _)| j < plane)
                        .map(|(j, col)| {
                            let (y, x) = (j / g.neurons.width, j % g.neurons.width);
                            (layout.numbering.number(y, x), col - row.column_base)
                        })
                        .collect();
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "sender {i}, {b} banks");
                }
            }
        }
    }

    /// The numbering is one-to-one, keeps each pooling window's neurons on consecutive
    /// numbers (one group, neighbouring lanes), and spreads a receptive field over the banks:
    /// a max-pooled 5x5 convolution of a 14x14 map at 4 banks takes 7 entries per interior
    /// event, not 9 (and 1,112 in all instead of 1,444).
    #[test]
    fn rotated_windows_spread_a_field_over_the_banks() {
        let input = Shape {
            channels: 16,
            height: 14,
            width: 14,
        };
        let max = Some(Pool {
            kind: PoolKind::Max,
            window: 2,
            stride: 2,
        });
        let g = conv(input, 32, 5, 1, 2, max);
        let layout = ConvLayout::new(&g, None, 128).unwrap();
        assert_eq!(layout.banks, 4);
        let mut numbers = Vec::new();
        for y in 0..14 {
            for x in 0..14 {
                let n = layout.numbering.number(y, x);
                assert_eq!(n / 4, (y / 2) * 7 + x / 2, "({y}, {x})");
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (0..196).collect::<Vec<_>>());
        assert_eq!(layout.senders[7 * 14 + 7].count, 7);
        assert_eq!(layout.entries[0].len(), 1112);
        let plain = Numbering {
            rotation: (0, 0),
            ..layout.numbering.clone()
        };
        assert_eq!(tables(&g, 4, &plain).0[0].len(), 1444);
    }

    #[test]
    fn lanes_must_cover_whole_channels_and_windows() {
        let input = Shape {
            channels: 1,
            height: 4,
            width: 4,
        };
        let pooled = conv(
            input,
            2,
            3,
            1,
            1,
            Some(Pool {
                kind: PoolKind::Max,
                window: 2,
                stride: 2,
            }),
        );
        let e = ConvLayout::new(&pooled, None, 4).unwrap_err().to_string();
        assert!(
            e.contains("multiple of its 2 output channels times the 4"),
            "{e}"
        );
        assert!(ConvLayout::new(&pooled, None, 8).is_ok());
        let layout = ConvLayout::new(&pooled, None, 16).unwrap();
        for p in 0..16 {
            let (b, c) = layout.bank_channel(p);
            assert_eq!(layout.lane(b, c), p);
        }
    }
}
