//! Runs images through the RustHDL simulation of a whole [`Accelerator`] and records what
//! crossed every spike bus ([`ImageRun`]), for comparison with the golden model, and the port
//! values of every cycle, so the same run can be replayed on the generated Verilog.

use crate::core::accelerator::{Accelerator, Counter, pixel_words};
use crate::sim::compare::ImageRun;
use crate::sim::{from_bits32, prepare, settle};
use anyhow::{Result, bail};

/// Cycles the counters may lag the ports by.
const COUNTER_LAG: usize = 2;

/// The inputs applied in each cycle: `[pixel_valid, pixel_zeros, pixel_value, result_ready]`.
pub type PortVectors = Vec<Vec<u64>>;

/// Streams `images` in (as [`pixel_words`], as fast as the accelerator takes them) and
/// collects every image's results, with the result port always ready. Fails after
/// `max_cycles`.
pub fn run_images(
    accel: &mut Accelerator,
    images: &[&[u8]],
    max_cycles: u64,
) -> Result<(Vec<ImageRun>, PortVectors)> {
    run_images_with_ready(accel, images, max_cycles, &|_| true)
}

/// [`run_images`] with the result port ready in the cycles where `result_ready(cycle)` is
/// true (a slow consumer: results pile up in the FIFO, then leave back to back).
pub fn run_images_with_ready(
    accel: &mut Accelerator,
    images: &[&[u8]],
    max_cycles: u64,
    result_ready: &dyn Fn(u64) -> bool,
) -> Result<(Vec<ImageRun>, PortVectors)> {
    prepare(accel);
    let mut vectors = Vec::new();
    // The encoder and every hidden layer send spikes: FIFO s takes stage s's input.
    let stages = accel.fifos.len() - 1;
    let mut runs: Vec<ImageRun> = (0..images.len())
        .map(|_| ImageRun {
            spikes: vec![Vec::new(); stages],
            first_bus: accel.pixel_convs.len(),
            ..Default::default()
        })
        .collect();
    // Per stage, the image its bus is carrying now.
    let mut bus_image = vec![0usize; stages];
    let mut result_image = 0;
    let words: Vec<Vec<(u16, u8)>> = images.iter().map(|i| pixel_words(i)).collect();
    let (mut image, mut word) = (0, 0);
    for cycle in 0..max_cycles {
        if result_image == images.len() {
            return Ok((runs, vectors));
        }
        let feeding = image < images.len();
        let (zeros, value) = if feeding { words[image][word] } else { (0, 0) };
        accel.pixel_valid.next = feeding;
        accel.pixel_zeros.next = u64::from(zeros).into();
        accel.pixel_value.next = u64::from(value).into();
        let ready = result_ready(cycle);
        accel.result_ready.next = ready;
        vectors.push(vec![
            feeding as u64,
            zeros.into(),
            value.into(),
            ready as u64,
        ]);
        settle(accel);
        // Every bus transfer of this cycle.
        for (s, carrying) in bus_image.iter_mut().enumerate() {
            let f = &accel.fifos[s];
            let (valid, ready, last, index, step) = (
                f.in_valid.val(),
                f.in_ready.val(),
                f.in_last.val(),
                f.in_index.val(),
                f.in_step.val(),
            );
            if valid && ready {
                if last {
                    if let Some(run) = runs.get_mut(*carrying) {
                        run.stage_done.push(cycle);
                    }
                    *carrying += 1;
                } else if let Some(run) = runs.get_mut(*carrying) {
                    run.spikes[s].push((index.to_u64() as u32, step.to_u64() as u32));
                }
            }
        }
        if accel.result_valid.val() && ready {
            let run = &mut runs[result_image];
            if accel.result_last.val() {
                run.class = accel.result_class.val().to_u64() as usize;
                run.done_cycle = cycle;
                result_image += 1;
            } else {
                let expected = run.logits.len() as u64;
                let index = accel.result_index.val().to_u64();
                if index != expected {
                    bail!("image {result_image}: logit {index} arrived where {expected} was due");
                }
                run.logits.push(from_bits32(accel.result_logit.val()));
            }
        }
        if feeding && accel.pixel_ready.val() {
            word += 1;
            if word == words[image].len() {
                (image, word) = (image + 1, 0);
            }
        }
        accel.clock.next = true.into();
        settle(accel);
        accel.clock.next = false.into();
        settle(accel);
    }
    bail!(
        "the accelerator did not finish in {max_cycles} cycles ({result_image} of {} images out)",
        images.len()
    )
}

/// Reads every counter through the accelerator's counter port, in [`Counter::select`] order.
pub fn read_counters(accel: &mut Accelerator) -> Vec<u64> {
    let layers = accel.fifos.len() - 1;
    // The counters count registered pulses, up to two cycles behind the ports: idle cycles
    // first (a host reads them long after an image's class has left).
    accel.pixel_valid.next = false;
    for _ in 0..COUNTER_LAG {
        accel.clock.next = true.into();
        settle(accel);
        accel.clock.next = false.into();
        settle(accel);
    }
    (0..Counter::count(layers))
        .map(|select| {
            accel.counter_select.next = (select as u64).into();
            settle(accel);
            accel.counter_value.val().to_u64()
        })
        .collect()
}
