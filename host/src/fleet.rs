//! Several devices sharing one run of images: when one board's link is the limit, a user plugs
//! in more. Each device has a thread of its own that opens its link, prepares it
//! ([`prepare`]: identify, reset, load the model if needed) and takes chunks of images from a
//! shared queue, streaming each chunk as [`classify`] does, so every device's pipeline stays
//! full while there is work. Results land by image number, so they come out in image order
//! whichever device computed them.
//!
//! A device that fails (its link dies, it stops answering) leaves the run; the images of its
//! chunk that have no result go back to the queue for the others. An image whose result was
//! lost on a working link is retried too, up to [`ATTEMPTS`] times in all. Only when no device
//! is left, or an image has used its attempts, is it named as failed: nothing is lost silently.

use crate::client::{Client, LinkStats};
use crate::stream::{Batch, classify, prepare};
use anyhow::{Context, Result};
use fs_hdl::protocol::{Command, Status};
use fs_model::network::Model;
use indicatif::ProgressBar;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Instant;

/// Tries per image before it is named as failed.
pub const ATTEMPTS: usize = 3;

/// Opens one device's link (called in the device's own thread).
pub type Opener<'a> = Box<dyn FnOnce() -> Result<Client> + Send + 'a>;

/// One device's part of a run.
#[derive(Debug, Serialize)]
pub struct DeviceShare {
    /// What the device is: a port's path, "sim 2".
    pub name: String,
    /// Images whose result this device returned.
    pub images: usize,
    /// Chunks it took from the queue.
    pub chunks: usize,
    /// Seconds from its first chunk to its last result.
    pub seconds: f64,
    pub model_loaded: bool,
    /// Its traffic from its first chunk on (identify, reset and model load left out).
    pub link: LinkStats,
    /// Why it left the run, if it did.
    pub error: Option<String>,
    /// Its lanes per layer, from its identify response.
    pub lanes: Vec<u16>,
    /// What it counted, read at the end (if it still answered).
    #[serde(skip)]
    pub status: Option<Status>,
}

/// What came back for a shared run.
pub struct SharedBatch {
    /// By image number.
    pub results: Vec<Option<(Vec<i64>, u8)>>,
    /// Images with no result, named.
    pub failed: Vec<usize>,
    pub devices: Vec<DeviceShare>,
    /// Seconds from the first chunk any device took to the last result.
    pub seconds: f64,
}

struct Queue {
    /// Chunks of image numbers waiting for a device.
    waiting: VecDeque<Vec<usize>>,
    /// Chunks a device is working on.
    in_flight: usize,
    results: Vec<Option<(Vec<i64>, u8)>>,
    attempts: Vec<usize>,
    failed: Vec<usize>,
    first_chunk: Option<Instant>,
    last_result: Option<Instant>,
    progress: ProgressBar,
}

/// Classifies `images` on `devices`, `chunk` images at a time (`quiet`: no progress bars).
/// `accelerator_counters` is how many counters a status response of the model's design
/// carries.
pub fn classify_shared(
    devices: Vec<(String, Opener<'_>)>,
    model: &Model,
    images: &[&[u8]],
    chunk: usize,
    accelerator_counters: usize,
    quiet: bool,
) -> SharedBatch {
    let chunk = chunk.max(1);
    let progress = crate::progress::bar(images.len() as u64, "classifying", quiet);
    // (With one device, loading the model shows its own bar.)
    let quiet_load = quiet || devices.len() > 1;
    let queue = Mutex::new(Queue {
        waiting: (0..images.len())
            .collect::<Vec<_>>()
            .chunks(chunk)
            .map(<[usize]>::to_vec)
            .collect(),
        in_flight: 0,
        results: vec![None; images.len()],
        attempts: vec![0; images.len()],
        failed: Vec::new(),
        first_chunk: None,
        last_result: None,
        progress,
    });
    let changed = Condvar::new();
    let shares: Vec<DeviceShare> = std::thread::scope(|scope| {
        let workers: Vec<_> = devices
            .into_iter()
            .map(|(name, open)| {
                let (queue, changed) = (&queue, &changed);
                scope.spawn(move || {
                    let device = Device {
                        model,
                        images,
                        queue,
                        changed,
                        accelerator_counters,
                        quiet_load,
                    };
                    device.work(name, open)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| DeviceShare {
                    error: Some("its thread panicked".into()),
                    ..share("?".into())
                })
            })
            .collect()
    });
    let mut queue = queue.into_inner().unwrap_or_else(|e| e.into_inner());
    // What no device was left to take.
    let left: Vec<usize> = queue.waiting.drain(..).flatten().collect();
    queue.failed.extend(left);
    queue.failed.sort_unstable();
    queue.progress.finish_and_clear();
    let seconds = match (queue.first_chunk, queue.last_result) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    SharedBatch {
        results: queue.results,
        failed: queue.failed,
        devices: shares,
        seconds,
    }
}

fn share(name: String) -> DeviceShare {
    DeviceShare {
        name,
        images: 0,
        chunks: 0,
        seconds: 0.0,
        model_loaded: false,
        link: LinkStats::default(),
        error: None,
        lanes: Vec::new(),
        status: None,
    }
}

/// What a device's thread works with.
struct Device<'a> {
    model: &'a Model,
    images: &'a [&'a [u8]],
    queue: &'a Mutex<Queue>,
    changed: &'a Condvar,
    accelerator_counters: usize,
    quiet_load: bool,
}

impl Device<'_> {
    /// Open, prepare, then chunks until the queue is empty and no chunk is in flight
    /// elsewhere (a failing device may yet give one back).
    fn work(&self, name: String, open: Opener<'_>) -> DeviceShare {
        let (model, images, queue, changed) = (self.model, self.images, self.queue, self.changed);
        let mut share = share(name);
        let opened = open().and_then(|mut client| {
            let (identity, loaded) = prepare(&mut client, model, self.quiet_load)?;
            Ok((client, identity, loaded))
        });
        let (mut client, identity, loaded) = match opened {
            Ok(x) => x,
            Err(e) => {
                share.error = Some(format!("{e:#}"));
                // Without this device the others may be all there is: wake them to finish.
                changed.notify_all();
                return share;
            }
        };
        share.model_loaded = loaded;
        share.lanes = identity.lanes.clone();
        let start = Instant::now();
        let before = client.stats.clone();
        loop {
            let numbers = {
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                loop {
                    if let Some(numbers) = q.waiting.pop_front() {
                        q.in_flight += 1;
                        q.first_chunk.get_or_insert(start);
                        break Some(numbers);
                    }
                    if q.in_flight == 0 {
                        break None;
                    }
                    q = changed.wait(q).unwrap_or_else(|e| e.into_inner());
                }
            };
            let Some(numbers) = numbers else { break };
            share.chunks += 1;
            let chunk_images: Vec<&[u8]> = numbers.iter().map(|&n| images[n]).collect();
            // Results are numbered from a reset on: every chunk after the first starts with one
            // (prepare reset the device before the first).
            let reset = match share.chunks {
                1 => Ok(()),
                _ => client
                    .expect(Command::Reset, &[])
                    .map(|_| ())
                    .context("resetting the device between chunks"),
            };
            let batch = match reset {
                Ok(()) => classify(&mut client, &identity, &chunk_images, true),
                Err(e) => Batch {
                    results: vec![None; chunk_images.len()],
                    failed: (0..chunk_images.len()).collect(),
                    error: Some(e),
                    expected: 0,
                },
            };
            {
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                q.in_flight -= 1;
                let mut again = Vec::new();
                for (k, result) in batch.results.into_iter().enumerate() {
                    let n = numbers[k];
                    match result {
                        Some(r) => {
                            q.results[n] = Some(r);
                            share.images += 1;
                            q.progress.inc(1);
                            q.last_result = Some(Instant::now());
                        }
                        None => {
                            q.attempts[n] += 1;
                            if q.attempts[n] >= ATTEMPTS {
                                q.failed.push(n);
                            } else {
                                again.push(n);
                            }
                        }
                    }
                }
                if !again.is_empty() {
                    q.waiting.push_back(again);
                }
                changed.notify_all();
            }
            // A device that failed leaves the run.
            if let Some(e) = batch.error {
                share.error = Some(format!("{e:#}"));
                break;
            }
        }
        share.seconds = start.elapsed().as_secs_f64();
        share.link = client.stats.since(&before);
        // What the device counted (a device that left the run is not asked).
        if share.error.is_none() {
            share.status = client.status(self.accelerator_counters).ok();
        }
        share
    }
}
