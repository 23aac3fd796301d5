//! What a simulation of the accelerator records of one image ([`ImageRun`], the same from
//! every engine) and the one comparison of it with the golden model ([`first_difference`]),
//! which `fpga-host verify` and the tests share.

use fs_model::infer::FixedRun;
use serde::Serialize;
use std::fmt;

/// A spike on a bus: (neuron index, 0-based step).
pub type Spike = (u32, u32);

/// What the accelerator did with one image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageRun {
    /// Spikes of every stage (input encoder first, then each hidden layer), in bus order.
    pub spikes: Vec<Vec<Spike>>,
    /// The first stage whose spikes cross a bus in the RTL: 1 when the first layer is
    /// computed from pixels (the input code never leaves it), else 0.
    pub first_bus: usize,
    pub logits: Vec<i64>,
    pub class: usize,
    /// Cycle at which the image's last result left the accelerator.
    pub done_cycle: u64,
    /// Per stage, the cycle at which the image's end-of-image marker crossed its bus.
    pub stage_done: Vec<u64>,
}

/// Spike masks as bus events, in ascending order within each step (the input encoder's and
/// a dense layer's bus order).
pub fn spike_events(masks: &[u32]) -> Vec<Spike> {
    fs_model::infer::bus_events(masks, None)
}

/// The golden run's spikes in bus order, per stage.
pub fn golden_spikes(run: &FixedRun) -> Vec<Vec<Spike>> {
    (0..run.spikes.len()).map(|s| run.bus_events(s)).collect()
}

/// Where a run first left the golden model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub image: usize,
    /// "input" for the input encoder's bus, "hidden1".. for hidden layers' buses, "output"
    /// for the logits and the class.
    pub stage: String,
    /// The event's position in the stage's bus order (the logit's index; for the class, the
    /// number of logits).
    pub event: usize,
    /// The spike events that differ (none for the output stage).
    pub rtl: Option<Spike>,
    pub golden: Option<Spike>,
    pub detail: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "image {}, {}: {}", self.image, self.stage, self.detail)
    }
}

/// The first spike event, logit or class of `run` that differs from the golden run of the same
/// image, in stage order (bus by bus, then the logits, then the class).
pub fn first_difference(image: usize, run: &ImageRun, golden: &FixedRun) -> Option<Mismatch> {
    let gold_spikes = golden_spikes(golden);
    let stages = run.spikes.len().max(gold_spikes.len());
    for s in run.first_bus..stages {
        let (rtl, gold) = (
            run.spikes.get(s).map_or(&[][..], Vec::as_slice),
            gold_spikes.get(s).map_or(&[][..], Vec::as_slice),
        );
        if let Some(k) = (0..rtl.len().max(gold.len())).find(|&k| rtl.get(k) != gold.get(k)) {
            let show = |e: Option<&Spike>| match e {
                Some(&(i, t)) => format!("{} at step {}", golden.neuron_name(s, i as usize), t + 1),
                None => "nothing".to_string(),
            };
            return Some(Mismatch {
                image,
                // (Hidden stage s carries layer s - 1's spikes.)
                stage: if s == 0 {
                    "input".to_string()
                } else {
                    format!("hidden{s}")
                },
                event: k,
                rtl: rtl.get(k).copied(),
                golden: gold.get(k).copied(),
                detail: format!(
                    "spike event {k}: RTL has {}, golden has {}",
                    show(rtl.get(k)),
                    show(gold.get(k))
                ),
            });
        }
    }
    result_difference(image, &run.logits, run.class, golden)
}

/// The first logit, or else the class, that differs from the golden run of the same image:
/// the check of a device, which reports results and no spikes.
pub fn result_difference(
    image: usize,
    logits: &[i64],
    class: usize,
    golden: &FixedRun,
) -> Option<Mismatch> {
    let output = |event, detail| Mismatch {
        image,
        stage: "output".into(),
        event,
        rtl: None,
        golden: None,
        detail,
    };
    if let Some(j) =
        (0..logits.len().max(golden.logits.len())).find(|&j| logits.get(j) != golden.logits.get(j))
    {
        return Some(output(
            j,
            format!(
                "logit {j}: RTL {:?}, golden {:?}",
                logits.get(j),
                golden.logits.get(j)
            ),
        ));
    }
    (class != golden.class()).then(|| {
        output(
            logits.len(),
            format!("class: RTL {class}, golden {}", golden.class()),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs_model::infer::FixedEngine;
    use fs_testkit::random::{ModelSpec, random_image, random_model};

    /// A spike that differs is named by stage, event, channel, position and step; equal runs
    /// have no difference.
    #[test]
    fn the_first_difference_names_the_neuron_by_channel_and_position() {
        let golden = (0..)
            .map(|seed| random_model(seed, &ModelSpec::rtl_cnn()))
            .find_map(|m| {
                let golden = FixedEngine::new(&m).run(&random_image(&m, 1));
                // A multi-channel first map with spikes on its bus.
                let map = golden.shapes[1];
                (map.channels > 1 && map.height * map.width > 1 && !golden.bus_events(1).is_empty())
                    .then_some(golden)
            })
            .unwrap();
        let mut run = ImageRun {
            spikes: golden_spikes(&golden),
            logits: golden.logits.clone(),
            class: golden.class(),
            ..Default::default()
        };
        assert_eq!(first_difference(0, &run, &golden), None);
        let (i, t) = run.spikes[1][0];
        run.spikes[1][0] = (i, t + 1);
        let m = first_difference(4, &run, &golden).unwrap();
        let map = golden.shapes[1];
        let plane = map.height * map.width;
        let (c, y, x) = (
            i as usize / plane,
            i as usize % plane / map.width,
            i as usize % map.width,
        );
        assert_eq!((m.image, m.stage.as_str(), m.event), (4, "hidden1", 0));
        assert!(
            m.detail.contains(&format!(
                "neuron {i} (channel {c}, y {y}, x {x}) at step {}",
                t + 2
            )),
            "{}",
            m.detail
        );
    }
}
