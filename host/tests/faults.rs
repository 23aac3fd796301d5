//! Faults between the host and the simulated device: a link that flips and drops bytes in
//! both directions, a device that vanishes half way through a batch, and a host that
//! restarts half way through one. In every case each image's result is either reported and
//! equal to the golden model's, or the image is named as failed. And `selftest`'s diagnosis
//! of a damaging link and of a board whose results are wrong.
//!
//! The faults come from a proxy: a second pseudo-terminal pair whose far end the client
//! opens, and a thread that forwards bytes between it and the simulated device's terminal,
//! damaging them as told.

mod common;

use fs_testkit::random::retrained;

use common::{assert_accounted_for, digits};
use fpga_host::client::Client;
use fpga_host::pty_device::PtyDevice;
use fpga_host::stream::{Batch, classify, prepare};
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::protocol::{
    Command, FrameDecoder, RESPONSE, ResultResponse, classify_payloads, encode_image,
};
use fs_model::network::Model;
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// What the proxy does to the bytes it forwards.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// One byte in this many (in each direction) gets a bit flipped, and one in this many
    /// is dropped; 0 for none.
    one_in: u64,
    /// After this many bytes from the device, nothing more passes either way.
    cut_after: Option<usize>,
    /// One byte in this many from the device gets a bit flipped (nothing dropped, requests
    /// intact: what a baud rate slightly off does to a board's answers); 0 for none.
    flip_responses: u64,
    /// Results from a device of this many classes arrive with their first logit one higher
    /// (frames intact): a board that computes something else.
    wrong_results: Option<usize>,
    /// Identify responses report this protocol version (frames intact): a board programmed
    /// with a bitstream of another release.
    protocol_version: Option<u8>,
    /// The read-results response that carries result `.1` of a device of `.0` classes is
    /// dropped whole, the rest intact.
    drop_result: Option<(usize, u32)>,
}

impl Faults {
    /// Flips a bit of one byte in `one_in` and drops another, both ways.
    fn damaging(one_in: u64) -> Self {
        Faults {
            one_in,
            ..Faults::default()
        }
    }

    /// A clean link that goes dead after `bytes` bytes from the device.
    fn cut_after(bytes: usize) -> Self {
        Faults {
            cut_after: Some(bytes),
            ..Faults::default()
        }
    }

    /// Requests intact; one response byte in `one_in` with a bit flipped.
    fn flipping_responses(one_in: u64) -> Self {
        Faults {
            flip_responses: one_in,
            ..Faults::default()
        }
    }

    /// A clean link from a device of `classes` classes whose results are off by one.
    fn wrong_results(classes: usize) -> Self {
        Faults {
            wrong_results: Some(classes),
            ..Faults::default()
        }
    }

    /// A clean link from a device that speaks protocol `version`.
    fn protocol_version(version: u8) -> Self {
        Faults {
            protocol_version: Some(version),
            ..Faults::default()
        }
    }

    /// A clean link that loses the response carrying result `index` of `classes` classes.
    fn dropping_result(classes: usize, index: u32) -> Self {
        Faults {
            drop_result: Some((classes, index)),
            ..Faults::default()
        }
    }

    /// Whether whole frames from the device are rewritten.
    fn rewrites_frames(&self) -> bool {
        self.wrong_results.is_some()
            || self.protocol_version.is_some()
            || self.drop_result.is_some()
    }
}

/// The frames among `frames` re-encoded after the rewrites `faults` asks for: every result
/// with its first logit one higher, every identify response with another protocol version.
fn rewrite_frames(frames: &mut FrameDecoder, faults: &Faults) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(frame) = frames.next_frame() {
        let mut frame = frame.expect("a clean link");
        if let Some(classes) = faults.wrong_results
            && frame.command == Command::ReadResults as u8 | RESPONSE
            && let Ok(mut response) = ResultResponse::decode(&frame.payload, classes)
            && let Some((logits, _)) = response.result.as_mut()
        {
            logits[0] += 1;
            frame.payload = response.encode();
        }
        if let Some((classes, index)) = faults.drop_result
            && frame.command == Command::ReadResults as u8 | RESPONSE
            && let Ok(response) = ResultResponse::decode(&frame.payload, classes)
            && response.result.is_some()
            && response.index == index
        {
            continue;
        }
        if let Some(version) = faults.protocol_version
            && frame.command == Command::Identify as u8 | RESPONSE
        {
            // The version is the low byte of the second word.
            frame.payload[4] = version;
        }
        out.extend(frame.encode().unwrap());
    }
    out
}

struct Proxy {
    path: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    fn start(device_path: &str, faults: Faults) -> Proxy {
        let mut device = serialport::new(device_path, 3_000_000)
            .timeout(Duration::from_millis(1))
            .open_native()
            .unwrap();
        let (mut host, slave) = TTYPort::pair().unwrap();
        let path = slave.name().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let _slave = slave;
                // A fixed xorshift sequence: the same bytes are damaged on every run.
                let mut state = 0x9e37_79b9_7f4a_7c15u64;
                let mut damage = |bytes: &[u8]| -> Vec<u8> {
                    let mut out = Vec::with_capacity(bytes.len());
                    for &b in bytes {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        match faults.one_in {
                            0 => out.push(b),
                            n if state % n == 0 => out.push(b ^ (1 << ((state >> 32) % 8))),
                            n if state % n == 1 => {}
                            _ => out.push(b),
                        }
                    }
                    out
                };
                let mut from_device = 0;
                let mut buffer = [0u8; 1024];
                let mut frames = FrameDecoder::new();
                let mut flipped = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let cut = faults.cut_after.is_some_and(|n| from_device >= n);
                    let mut moved = false;
                    if host.bytes_to_read().unwrap_or(0) > 0
                        && let Ok(n) = host.read(&mut buffer)
                    {
                        moved = true;
                        if !cut {
                            device.write_all(&damage(&buffer[..n])).unwrap();
                        }
                    }
                    if device.bytes_to_read().unwrap_or(0) > 0
                        && let Ok(n) = device.read(&mut buffer)
                    {
                        moved = true;
                        if !cut {
                            let n = faults.cut_after.map_or(n, |c| n.min(c - from_device));
                            from_device += n;
                            let bytes = match faults.rewrites_frames() {
                                true => {
                                    frames.push(&buffer[..n]);
                                    rewrite_frames(&mut frames, &faults)
                                }
                                false if faults.flip_responses > 0 => {
                                    let mut bytes = buffer[..n].to_vec();
                                    for b in &mut bytes {
                                        flipped += 1;
                                        if flipped % faults.flip_responses == 0 {
                                            *b ^= 0x10;
                                        }
                                    }
                                    bytes
                                }
                                false => damage(&buffer[..n]),
                            };
                            host.write_all(&bytes).unwrap();
                        }
                    }
                    if !moved {
                        std::thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        };
        Proxy {
            path,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// The tests here race a simulated device against the host's timeouts, so they run one at a
/// time: five RustHDL devices on two cores slowed one past an 800 ms timeout in CI.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a session for `model` and streams `images`, as `fpga-host infer` does.
fn run_batch(client: &mut Client, model: &Model, images: &[&[u8]]) -> Batch {
    let (identity, _) = prepare(client, model, true).unwrap();
    classify(client, &identity, images, true)
}

#[test]
fn a_link_that_damages_bytes_loses_no_image_silently() {
    let _serial = one_at_a_time();
    let (model, test) = digits();
    let images: Vec<&[u8]> = (0..16).map(|i| test.image(i)).collect();
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    let proxy = Proxy::start(&sim.path, Faults::damaging(700));
    let mut client = Client::open(&proxy.path, 3_000_000, Duration::from_millis(800), 6).unwrap();
    let batch = run_batch(&mut client, &model, &images);
    assert!(batch.error.is_none(), "{:?}", batch.error);
    let reported = assert_accounted_for(&model, &images, &batch);
    // The damage reached the host's decoder and the device's, and was survived by retries.
    let s = &client.stats;
    assert!(s.retries > 0, "{s:?}");
    assert!(s.corrupt_responses + s.noise_bytes > 0, "{s:?}");
    // Only a lost read-results response can lose an image's result, and each was retried.
    assert!(
        images.len() - reported <= s.result_retries as usize,
        "{reported} {s:?}"
    );
    drop(proxy);
    sim.stop().unwrap();
}

/// The last image's result lost on the way: no later result shows the gap, but the device's
/// next answer counts the results it sent, so the image is named as failed at once (not after
/// the host has waited out its stall limit and given up on the batch).
#[test]
fn a_lost_last_result_names_its_image_and_ends_the_batch() {
    let _serial = one_at_a_time();
    let (model, test) = digits();
    let images: Vec<&[u8]> = (0..6).map(|i| test.image(i)).collect();
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    let proxy = Proxy::start(&sim.path, Faults::dropping_result(10, 5));
    // A timeout no working response outlasts on a loaded machine (a late read-results
    // response loses a result too: its retry takes the next one).
    let mut client = Client::open(&proxy.path, 3_000_000, Duration::from_secs(3), 3).unwrap();
    let batch = run_batch(&mut client, &model, &images);
    assert!(batch.error.is_none(), "{:?}", batch.error);
    assert_eq!(batch.failed, vec![5]);
    assert_eq!(assert_accounted_for(&model, &images, &batch), 5);
    assert!(client.stats.retries > 0, "{:?}", client.stats);
    drop(proxy);
    sim.stop().unwrap();
}

#[test]
fn a_device_that_vanishes_mid_batch_leaves_every_image_accounted_for() {
    let _serial = one_at_a_time();
    let (model, test) = digits();
    let images: Vec<&[u8]> = (0..12).map(|i| test.image(i)).collect();
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    // Identify, reset and a few results get through; then the device is gone.
    let proxy = Proxy::start(&sim.path, Faults::cut_after(400));
    // A timeout long enough that no response of the working device comes late (a late
    // read-results response is retried, and the retry takes the next result).
    let mut client = Client::open(&proxy.path, 3_000_000, Duration::from_secs(2), 1).unwrap();
    let batch = run_batch(&mut client, &model, &images);
    let e = format!("{:#}", batch.error.as_ref().expect("the batch stopped"));
    assert!(e.contains("stopped answering"), "{e}");
    let reported = assert_accounted_for(&model, &images, &batch);
    assert!(reported > 0 && reported < images.len(), "{reported}");
    assert_eq!(batch.failed, (reported..images.len()).collect::<Vec<_>>());
    drop(proxy);
    sim.stop().unwrap();
}

/// A host that dies with images in flight and half a request on the wire; returns the
/// sequence number of its last classify.
fn die_mid_batch(path: &str, model: &Model, images: &[&[u8]]) -> u8 {
    let mut host = Client::open(path, 3_000_000, Duration::from_secs(5), 1).unwrap();
    let (identity, _) = prepare(&mut host, model, true).unwrap();
    let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
    let payloads = classify_payloads(&codes, identity.max_payload as usize);
    host.expect(Command::Classify, &payloads[0]).unwrap();
    let last_classify = host.last_sequence();
    host.read_result(identity.classes as usize, true).unwrap();
    drop(host);
    let bytes = fs_hdl::protocol::Frame::new(9, Command::Classify as u8, payloads[1].clone())
        .encode()
        .unwrap();
    let mut port = serialport::new(path, 3_000_000).open().unwrap();
    port.write_all(&bytes[..bytes.len() / 2]).unwrap();
    last_classify
}

/// The model with other weights: the same design, so it loads at run time.
#[test]
fn a_host_that_restarts_mid_batch_finds_the_device_ready() {
    let _serial = one_at_a_time();
    let (model, test) = digits();
    let images: Vec<&[u8]> = (0..10).map(|i| test.image(i)).collect();
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    let last_classify = die_mid_batch(&sim.path, &model, &images);
    // The next host reuses the dead one's sequence numbers (identify, reset, then classify):
    // its first classify carries the number of the dead host's last, and must not be taken
    // for a retry of it (identify clears the device's memory of it).
    let mut second = Client::open(&sim.path, 3_000_000, Duration::from_secs(5), 2).unwrap();
    second.continue_after(last_classify.wrapping_sub(3));
    let batch = run_batch(&mut second, &model, &images);
    assert!(batch.error.is_none(), "{:?}", batch.error);
    assert_eq!(assert_accounted_for(&model, &images, &batch), images.len());
    drop(second);
    // A host that died with images in flight does not stop the next from loading another
    // model of the same design (the reset comes before the load).
    die_mid_batch(&sim.path, &model, &images);
    let other = retrained(&model, 3);
    let mut third = Client::open(&sim.path, 3_000_000, Duration::from_secs(5), 2).unwrap();
    let batch = run_batch(&mut third, &other, &images);
    assert!(batch.error.is_none(), "{:?}", batch.error);
    assert_eq!(assert_accounted_for(&other, &images, &batch), images.len());
    sim.stop().unwrap();
}

/// `selftest` on a link that damages bytes says "bad frames" and what to try; on a board whose
/// results differ from the golden model it names the first image and logit that differ; on a
/// board of another protocol version it says so (and to reprogram it).
#[test]
fn selftest_tells_bad_frames_from_wrong_results() {
    let _serial = one_at_a_time();
    let (model, _) = digits();
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    for (faults, says) in [
        (Faults::flipping_responses(7), "bad frames"),
        (Faults::wrong_results(10), "wrong results: image 0"),
        (Faults::protocol_version(1), "protocol version 1"),
    ] {
        let proxy = Proxy::start(&sim.path, faults);
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_fpga-host"))
            .args(["selftest", "--port", &proxy.path, "--baud", "3000000"])
            .args(["--model", "models/digits-mlp.fsnn", "--count", "3"])
            .args(["--timeout", "5"])
            .current_dir(fs_testkit::root())
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{says}: selftest passed");
        assert!(!e.contains("panicked"), "{e}");
        assert!(e.contains(says), "{says}: {e}");
        drop(proxy);
    }
    sim.stop().unwrap();
}
