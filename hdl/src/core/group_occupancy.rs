//! Which groups of the first convolution read a non-zero pixel of an image: a flag per group,
//! set as the image's pixels load when one falls in the group's field (a rectangle of rows and
//! columns, [`crate::core::pixel_conv_layer::group_fields`]). A group without one computes
//! `B + IMP` in every lane whatever its weights, so the layer skips its taps. Two sets of
//! flags, like the pixel memories: image n+1's build while image n's are read, in group order,
//! by shifting them down one group at a time.
//!
//! A pixel given in cycle t is in its set's flags from t + [`FLAG_LATENCY`]; `busy` is high
//! from the cycle an image's last pixel is given until its flags are complete.

use crate::core::pixel_conv_layer::PixelRect;
use rust_hdl::prelude::*;

/// Cycles from a pixel to its group flags: the pixel is registered as it enters (it comes
/// from the pixel port's side of the chip, and every group compares it), then a cycle to
/// compare (run 14: a 6.2 ns route from the port's register into the compares, 90.5 MHz).
pub const FLAG_LATENCY: usize = 3;

#[derive(LogicBlock)]
pub struct GroupOccupancy {
    pub clock: Signal<In, Clock>,
    /// A pixel of an image: whether it is non-zero, its row and column, whether it is the
    /// image's first or last, and the set the image loads into.
    pub pixel_valid: Signal<In, Bit>,
    pub pixel_nonzero: Signal<In, Bit>,
    pub pixel_row: Signal<In, Bits<16>>,
    pub pixel_column: Signal<In, Bits<16>>,
    pub pixel_first: Signal<In, Bit>,
    pub pixel_last: Signal<In, Bit>,
    pub pixel_set: Signal<In, Bit>,
    /// An image's flags are not complete yet.
    pub busy: Signal<Out, Bit>,
    /// Set `read_set`'s flags of its current group and of the next; `advance` moves them on
    /// a group (the set is not loading then).
    pub read_set: Signal<In, Bit>,
    pub current_occupied: Signal<Out, Bit>,
    pub next_occupied: Signal<Out, Bit>,
    pub advance: Signal<In, Bit>,
    /// Per group, its field.
    row_low: Vec<Constant<Bits<16>>>,
    row_high: Vec<Constant<Bits<16>>>,
    column_low: Vec<Constant<Bits<16>>>,
    column_high: Vec<Constant<Bits<16>>>,
    /// The pixel, registered where the compares are.
    given_valid: DFF<Bit>,
    given_nonzero: DFF<Bit>,
    given_row: DFF<Bits<16>>,
    given_column: DFF<Bits<16>>,
    given_first: DFF<Bit>,
    given_last: DFF<Bit>,
    given_set: DFF<Bit>,
    /// The pixel a cycle later: per group whether it is a non-zero pixel of its field.
    hit: Vec<DFF<Bit>>,
    hit_valid: DFF<Bit>,
    hit_first: DFF<Bit>,
    hit_last: DFF<Bit>,
    hit_set: DFF<Bit>,
    /// Per set and group (`set G + g`; one more, always clear, to shift in).
    occupied: Vec<DFF<Bit>>,
    _groups: usize,
    _flags: usize,
}

impl GroupOccupancy {
    /// Flags for groups with these fields.
    pub fn new(fields: &[PixelRect]) -> Self {
        assert!(!fields.is_empty(), "a layer has one group at least");
        let constants = |f: &dyn Fn(&PixelRect) -> usize| {
            fields
                .iter()
                .map(|r| Constant::new((f(r) as u64).into()))
                .collect()
        };
        GroupOccupancy {
            clock: Default::default(),
            pixel_valid: Default::default(),
            pixel_nonzero: Default::default(),
            pixel_row: Default::default(),
            pixel_column: Default::default(),
            pixel_first: Default::default(),
            pixel_last: Default::default(),
            pixel_set: Default::default(),
            busy: Default::default(),
            read_set: Default::default(),
            current_occupied: Default::default(),
            next_occupied: Default::default(),
            advance: Default::default(),
            row_low: constants(&|r| r.rows.0),
            row_high: constants(&|r| r.rows.1),
            column_low: constants(&|r| r.columns.0),
            column_high: constants(&|r| r.columns.1),
            given_valid: Default::default(),
            given_nonzero: Default::default(),
            given_row: Default::default(),
            given_column: Default::default(),
            given_first: Default::default(),
            given_last: Default::default(),
            given_set: Default::default(),
            hit: (0..fields.len()).map(|_| Default::default()).collect(),
            hit_valid: Default::default(),
            hit_first: Default::default(),
            hit_last: Default::default(),
            hit_set: Default::default(),
            occupied: (0..2 * fields.len() + 1)
                .map(|_| Default::default())
                .collect(),
            _groups: fields.len(),
            _flags: 2 * fields.len(),
        }
    }
}

impl Logic for GroupOccupancy {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            given_valid,
            given_nonzero,
            given_row,
            given_column,
            given_first,
            given_last,
            given_set,
            hit_valid,
            hit_first,
            hit_last,
            hit_set
        );
        self.given_valid.d.next = self.pixel_valid.val();
        self.given_nonzero.d.next = self.pixel_nonzero.val();
        self.given_row.d.next = self.pixel_row.val();
        self.given_column.d.next = self.pixel_column.val();
        self.given_first.d.next = self.pixel_first.val();
        self.given_last.d.next = self.pixel_last.val();
        self.given_set.d.next = self.pixel_set.val();
        self.hit_valid.d.next = self.given_valid.q.val();
        self.hit_first.d.next = self.given_first.q.val();
        self.hit_last.d.next = self.given_last.q.val();
        self.hit_set.d.next = self.given_set.q.val();
        for g in 0..self._groups {
            self.hit[g].clock.next = self.clock.val();
            self.hit[g].d.next = self.given_valid.q.val()
                & self.given_nonzero.q.val()
                & (self.given_row.q.val() >= self.row_low[g].val())
                & (self.given_row.q.val() <= self.row_high[g].val())
                & (self.given_column.q.val() >= self.column_low[g].val())
                & (self.given_column.q.val() <= self.column_high[g].val());
        }
        self.busy.next = (self.pixel_valid.val() & self.pixel_last.val())
            | (self.given_valid.q.val() & self.given_last.q.val())
            | (self.hit_valid.q.val() & self.hit_last.q.val());
        // Set A's flags are 0..G, set B's G..2G, then the one always clear.
        for ng in self._groups..(self._groups + 1) {
            for g in 0..self._groups {
                self.occupied[g].clock.next = self.clock.val();
                self.occupied[ng + g].clock.next = self.clock.val();
                self.occupied[g].d.next = self.occupied[g].q.val();
                self.occupied[ng + g].d.next = self.occupied[ng + g].q.val();
                if self.advance.val() & !self.read_set.val() {
                    self.occupied[g].d.next = self.occupied[g + 1].q.val();
                }
                if self.advance.val() & self.read_set.val() {
                    self.occupied[ng + g].d.next = self.occupied[ng + g + 1].q.val();
                }
                if self.hit_valid.q.val() & !self.hit_set.q.val() {
                    self.occupied[g].d.next =
                        (self.occupied[g].q.val() & !self.hit_first.q.val()) | self.hit[g].q.val();
                }
                if self.hit_valid.q.val() & self.hit_set.q.val() {
                    self.occupied[ng + g].d.next = (self.occupied[ng + g].q.val()
                        & !self.hit_first.q.val())
                        | self.hit[g].q.val();
                }
            }
            for last in self._flags..(self._flags + 1) {
                self.occupied[last].clock.next = self.clock.val();
                self.occupied[last].d.next = false;
            }
            // (Set A's last group shifts in set B's first: never read, the image has ended.)
            self.current_occupied.next = self.occupied[0].q.val();
            self.next_occupied.next = self.occupied[1].q.val();
            if self.read_set.val() {
                self.current_occupied.next = self.occupied[ng].q.val();
                self.next_occupied.next = self.occupied[ng + 1].q.val();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{prepare, settle};
    use proptest::prelude::*;

    fn tick(uut: &mut GroupOccupancy) {
        uut.clock.next = true.into();
        settle(uut);
        uut.clock.next = false.into();
        settle(uut);
    }

    fn rect(rows: (usize, usize), columns: (usize, usize)) -> PixelRect {
        PixelRect { rows, columns }
    }

    /// Fields over a 4 x 5 image: single pixels, rows, overlapping blocks, the whole image.
    fn fields() -> Vec<PixelRect> {
        vec![
            rect((0, 0), (0, 0)),
            rect((0, 1), (0, 4)),
            rect((1, 2), (1, 3)),
            rect((2, 3), (3, 4)),
            rect((3, 3), (0, 0)),
            rect((0, 3), (0, 4)),
            rect((2, 2), (2, 2)),
        ]
    }

    proptest! {
        /// Images of random sparsity into alternate sets, with random gaps (none too), each
        /// read out group by group after it loads while the next loads: every group's flag is
        /// whether a non-zero pixel (of any channel) lies in its field, read from
        /// `FLAG_LATENCY` cycles after the image's last pixel, and `busy` is high in those
        /// cycles.
        #[test]
        fn flags_the_groups_with_a_nonzero_pixel(
            channels in 1usize..3,
            images in proptest::collection::vec(
                (proptest::collection::vec(0u8..6, 40), 0usize..3), 1..6),
        ) {
            let (height, width) = (4, 5);
            let fields = fields();
            let mut uut = GroupOccupancy::new(&fields);
            prepare(&mut uut);
            let size = channels * height * width;
            // Per cycle: the pixel given (index, non-zero, set), or none.
            let mut schedule = Vec::new();
            for (n, (values, gap)) in images.iter().enumerate() {
                for (i, &v) in values[..size].iter().enumerate() {
                    // (A sixth of the pixels lit.)
                    schedule.push(Some((i, v == 0, n % 2 == 1)));
                }
                schedule.extend(std::iter::repeat_n(None, *gap));
            }
            schedule.extend(std::iter::repeat_n(None, fields.len() + 3));
            let mut image = Vec::new();
            // The image being read: its set, expected flags, the first cycle to read them.
            let mut reading: Option<(bool, Vec<bool>, usize)> = None;
            let mut waiting: Option<(bool, Vec<bool>, usize)> = None;
            let mut read_group = 0;
            let mut busy_until = 0;
            for (cycle, pixel) in schedule.into_iter().enumerate() {
                uut.pixel_valid.next = pixel.is_some();
                if let Some((i, nz, set)) = pixel {
                    uut.pixel_nonzero.next = nz;
                    uut.pixel_row.next = (((i / width) % height) as u64).into();
                    uut.pixel_column.next = ((i % width) as u64).into();
                    uut.pixel_first.next = i == 0;
                    uut.pixel_last.next = i + 1 == size;
                    uut.pixel_set.next = set;
                    if i == 0 {
                        image.clear();
                    }
                    image.push(nz);
                    if i + 1 == size {
                        let flags = fields
                            .iter()
                            .map(|f| {
                                image.iter().enumerate().any(|(j, &nz)| {
                                    let (y, x) = ((j / width) % height, j % width);
                                    nz && f.rows.0 <= y && y <= f.rows.1
                                        && f.columns.0 <= x && x <= f.columns.1
                                })
                            })
                            .collect();
                        waiting = Some((set, flags, cycle + FLAG_LATENCY));
                        busy_until = cycle + FLAG_LATENCY;
                    }
                }
                if reading.is_none() && waiting.as_ref().is_some_and(|w| w.2 <= cycle) {
                    reading = waiting.take();
                    read_group = 0;
                }
                uut.advance.next = false;
                if let Some((set, flags, _)) = &reading {
                    uut.read_set.next = *set;
                    settle(&mut uut);
                    prop_assert_eq!(uut.current_occupied.val(), flags[read_group], "cycle {}", cycle);
                    // (After the last group the next flag is another image's: not read.)
                    if let Some(&next) = flags.get(read_group + 1) {
                        prop_assert_eq!(uut.next_occupied.val(), next, "cycle {}", cycle);
                    }
                    uut.advance.next = true;
                    read_group += 1;
                    if read_group == flags.len() {
                        reading = None;
                    }
                }
                settle(&mut uut);
                prop_assert_eq!(uut.busy.val(), cycle < busy_until, "cycle {}", cycle);
                tick(&mut uut);
            }
            prop_assert!(reading.is_none() && waiting.is_none());
        }
    }

    #[test]
    fn generates_verilog_yosys_accepts() {
        let mut uut = GroupOccupancy::new(&fields());
        prepare(&mut uut);
        yosys_validate("fs_hdl_group_occupancy", &generate_verilog(&uut)).unwrap();
    }
}
