//! `fpga-host infer`: classify test images on a device (a board on a serial port, or the
//! simulated device behind a pseudo-terminal) and compare every result with the golden model.

use super::{DataArgs, HwArgs, print_json};
use crate::client::{Client, LinkStats, Reply};
use crate::progress;
use crate::sim_device::SimDevice;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use fs_hdl::accelerator::Counter;
use fs_hdl::device::load_requests;
use fs_hdl::protocol::{
    Command, DeviceCounter, ErrorCode, Identity, Status, classify_payloads, design_hash,
    encode_image, model_hash,
};
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use fs_model::network::Model;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A board on a serial port (`--port`).
    Serial,
    /// The RustHDL simulation of the device behind a pseudo-terminal (no board needed).
    Sim,
}

#[derive(Args)]
pub struct InferArgs {
    /// Where the accelerator is.
    #[arg(long, value_enum, default_value_t = DeviceKind::Serial)]
    pub device: DeviceKind,
    /// Serial port of the board (e.g. /dev/ttyUSB1; `fpga-host ports` lists them).
    #[arg(long, required_if_eq("device", "serial"))]
    pub port: Option<String>,
    /// Baud rate of the serial port.
    #[arg(long, default_value_t = 3_000_000)]
    pub baud: u32,
    /// Model file: loaded into the device when the device holds another model of its design.
    #[arg(long, default_value = "models/mnist-mlp.fsnn")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Test images to classify.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Compare every result (logits and class) with the golden model.
    #[arg(long)]
    pub check: bool,
    /// Seconds to wait for a response before sending the request again (default: 1 for a
    /// board, 120 for the simulation, whose clock is slow).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Times a request is sent again before the device is declared gone.
    #[arg(long, default_value_t = 3)]
    pub retries: u32,
    /// Lanes per layer of the simulated device (`--device sim` only): one number for every
    /// layer (capped at each layer's width) or one per layer. The default builds the MNIST
    /// MLP as the ULX3S runs it (128,10).
    #[arg(long, value_delimiter = ',', default_value = "128")]
    pub lanes: Vec<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Mismatch {
    image: usize,
    device_class: u8,
    golden_class: usize,
    device_logits: Vec<i64>,
    golden_logits: Vec<i64>,
}

#[derive(Serialize)]
struct Report {
    device: DeviceKind,
    lanes: Vec<u16>,
    /// Images asked for, and those whose result came back.
    images: usize,
    classified: usize,
    /// Images whose result was lost (named, never silently dropped).
    failed: Vec<usize>,
    accuracy: f64,
    /// Results that differ from the golden model's (logits or class); `None` without
    /// `--check`.
    mismatches: Option<usize>,
    first_mismatch: Option<Mismatch>,
    golden_accuracy: Option<f64>,
    /// End to end: images per second of wall-clock time, with the link.
    images_per_second: f64,
    /// On chip: cycles per image the slowest layer was busy (the accelerator's own pace).
    cycles_per_image: f64,
    /// Device clock cycles per image, end to end (link waits included).
    device_cycles_per_image: f64,
    /// Bytes the host sent per image (images, requests and framing), and that ratio to the
    /// raw pixel bytes; bytes received per image.
    wire_bytes_per_image: f64,
    wire_ratio_to_raw: f64,
    response_bytes_per_image: f64,
    /// Fraction of the serial link's capacity used in the busier direction (`None` for the
    /// simulated device, which has no baud rate).
    link_utilisation: Option<f64>,
    model_loaded: bool,
    link: LinkStats,
    device_counters: Vec<(String, u32)>,
}

/// What came back for a batch; `error` says why it stopped early, if it did.
struct Batch {
    results: Vec<Option<(Vec<i64>, u8)>>,
    failed: Vec<usize>,
    error: Option<anyhow::Error>,
    /// The number of the next result.
    expected: usize,
}

pub fn run(args: InferArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let test = args.data.load()?.test.take(args.count);
    let images: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    for image in &images {
        model.input().check_image(image)?;
    }
    let sim = match args.device {
        DeviceKind::Sim => {
            let hw = HwArgs {
                lanes: args.lanes.clone(),
                fifo_depth: fs_hdl::accelerator::DEFAULT_FIFO_DEPTH,
            };
            let config = hw.config(&model)?;
            Some(SimDevice::start(&model, &config)?)
        }
        DeviceKind::Serial => None,
    };
    let (path, default_timeout) = match &sim {
        Some(s) => (s.path.clone(), 120.0),
        None => (args.port.clone().expect("clap requires --port"), 1.0),
    };
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(default_timeout));
    let mut client = Client::open(&path, args.baud, timeout, args.retries)?;

    let identity = client.identify().context("identifying the device")?;
    let model_loaded = prepare(&mut client, &identity, &model, args.json)?;
    client
        .expect(Command::Reset, &[])
        .context("resetting the device")?;
    let layers = identity.lanes.len();
    let counters = Counter::count(layers);
    let start_stats = client.stats.clone();
    let start = Instant::now();
    let batch = classify(&mut client, &identity, &images, args.json);
    let elapsed = start.elapsed().as_secs_f64();
    // What the device counted: read even after a failure, if it still answers.
    let status = client.status(counters).ok();
    if let Some(s) = sim {
        s.stop()?;
    }

    let engine = args.check.then(|| FixedEngine::new(&model));
    let mut mismatches = 0;
    let mut first_mismatch = None;
    let (mut correct, mut golden_correct, mut classified) = (0, 0, 0);
    for (n, result) in batch.results.iter().enumerate() {
        let Some((logits, class)) = result else {
            continue;
        };
        classified += 1;
        correct += (*class as usize == test.label(n)) as usize;
        if let Some(engine) = &engine {
            let golden = engine.run(images[n]);
            golden_correct += (golden.class() == test.label(n)) as usize;
            if *logits != golden.logits || *class as usize != golden.class() {
                mismatches += 1;
                first_mismatch.get_or_insert(Mismatch {
                    image: n,
                    device_class: *class,
                    golden_class: golden.class(),
                    device_logits: logits.clone(),
                    golden_logits: golden.logits.clone(),
                });
            }
        }
    }
    let per_image = |x: f64| {
        if classified > 0 {
            x / classified as f64
        } else {
            0.0
        }
    };
    let sent = (client.stats.bytes_sent - start_stats.bytes_sent) as f64;
    let received = (client.stats.bytes_received - start_stats.bytes_received) as f64;
    let raw = model.input().size() as f64;
    let busiest_layer = status.as_ref().map_or(0, |s| {
        (0..layers)
            .map(|l| s.accelerator[Counter::Busy(l).select(layers)])
            .max()
            .unwrap_or(0)
    });
    let report = Report {
        device: args.device,
        lanes: identity.lanes.clone(),
        images: images.len(),
        classified,
        failed: batch.failed.clone(),
        accuracy: per_image(correct as f64),
        mismatches: engine.as_ref().map(|_| mismatches),
        first_mismatch,
        golden_accuracy: engine.as_ref().map(|_| per_image(golden_correct as f64)),
        images_per_second: classified as f64 / elapsed.max(1e-9),
        cycles_per_image: per_image(busiest_layer as f64),
        device_cycles_per_image: per_image(
            status
                .as_ref()
                .map_or(0, |s| s.accelerator[Counter::Cycles.select(layers)]) as f64,
        ),
        wire_bytes_per_image: per_image(sent),
        wire_ratio_to_raw: per_image(sent) / raw,
        response_bytes_per_image: per_image(received),
        link_utilisation: (args.device == DeviceKind::Serial)
            .then(|| sent.max(received) * 10.0 / args.baud as f64 / elapsed.max(1e-9)),
        model_loaded,
        link: client.stats.clone(),
        device_counters: status.as_ref().map_or(Vec::new(), device_counters),
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    if let Some(e) = batch.error {
        return Err(e.context(format!(
            "stopped after {} of {} images (results above; {} failed)",
            classified,
            images.len(),
            images.len() - classified
        )));
    }
    if !batch.failed.is_empty() {
        bail!(
            "{} images got no result (lost on the link): {:?}",
            batch.failed.len(),
            batch.failed
        );
    }
    if mismatches > 0 {
        bail!("{mismatches} results differ from the golden model");
    }
    Ok(())
}

/// Checks that the device runs this model's design, and loads the model if it holds another
/// one; returns whether it loaded.
fn prepare(client: &mut Client, identity: &Identity, model: &Model, quiet: bool) -> Result<bool> {
    let lanes: Vec<usize> = identity.lanes.iter().map(|&l| l as usize).collect();
    if identity.inputs as usize != model.input().size()
        || lanes.len() != model.layers.len()
        || identity.design_hash != design_hash(model, &lanes)
    {
        bail!(
            "the device was built for another design ({} inputs, {} classes, lanes {:?}): \
             build its bitstream from this model (scripts/build-bitstreams), or pass the model \
             it was built for",
            identity.inputs,
            identity.classes,
            identity.lanes
        );
    }
    if identity.model_hash == model_hash(model) {
        return Ok(false);
    }
    let requests = load_requests(model, &lanes);
    let bar = progress::bar(requests.len() as u64, "loading the model");
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    for request in &requests {
        client
            .expect(Command::LoadWeights, request)
            .context("loading the model")?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let loaded = client.identify()?;
    if loaded.model_hash != model_hash(model) {
        bail!("the device does not report the loaded model's fingerprint after the load");
    }
    Ok(true)
}

/// Streams the images and collects their results, keeping the device's decoder busy: every
/// classify request is followed by reads of results until the decoder is free again.
fn classify(client: &mut Client, identity: &Identity, images: &[&[u8]], quiet: bool) -> Batch {
    let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
    let payloads = classify_payloads(&codes, identity.max_payload as usize);
    let mut batch = Batch {
        results: vec![None; images.len()],
        failed: Vec::new(),
        error: None,
        expected: 0,
    };
    let bar = progress::bar(images.len() as u64, "classifying");
    if quiet {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut next_payload = 0;
    let mut decoder_busy = false;
    let mut last_progress = Instant::now();
    let stall_limit = client.timeout * (client.retries + 1);
    let outcome = (|| -> Result<()> {
        while batch.expected < images.len() {
            // Images go in only when the device's decoder can take them (a refused request
            // would cross the link for nothing).
            if next_payload < payloads.len() && !decoder_busy {
                match client.request(Command::Classify, &payloads[next_payload])? {
                    Reply::Accepted(_) => next_payload += 1,
                    Reply::Refused(ErrorCode::Busy) => {}
                    Reply::Refused(e) => bail!("the device refused images: {}", e.describe()),
                }
            }
            // The device answers when a result is ready or its decoder has finished.
            let all_sent = next_payload == payloads.len();
            let (got, busy) = batch.read_one(client, identity.classes as usize, all_sent)?;
            decoder_busy = busy;
            if got {
                last_progress = Instant::now();
                bar.set_position(batch.expected as u64);
            } else if next_payload == payloads.len() && last_progress.elapsed() > stall_limit {
                bail!(
                    "the device holds {} images and returns no result",
                    images.len() - batch.expected
                );
            }
        }
        Ok(())
    })();
    bar.finish_and_clear();
    if let Err(e) = outcome {
        batch.failed.extend(batch.expected..images.len());
        batch.error = Some(e);
    }
    batch
}

impl Batch {
    /// Reads the next result, if the device has one. Results are numbered from the reset
    /// on, so result n is image n's; a gap in the numbers means the responses that carried
    /// those results were lost, and their images are named as failed.
    /// Returns whether a result came, and whether the device's decoder is busy.
    fn read_one(
        &mut self,
        client: &mut Client,
        classes: usize,
        wait: bool,
    ) -> Result<(bool, bool)> {
        let r = client.read_result(classes, wait)?;
        let index = r.index as usize;
        let Some(result) = r.result else {
            return Ok((false, r.decoder_busy));
        };
        if index >= self.results.len() || index < self.expected {
            bail!("the device sent result {index}, expected {}", self.expected);
        }
        self.failed.extend(self.expected..index);
        self.results[index] = Some(result);
        self.expected = index + 1;
        Ok((true, r.decoder_busy))
    }
}

fn device_counters(status: &Status) -> Vec<(String, u32)> {
    DeviceCounter::ALL
        .iter()
        .map(|&c| (format!("{c:?}"), status.device(c)))
        .collect()
}

fn print_report(r: &Report) {
    println!("device            {:?}, lanes {:?}", r.device, r.lanes);
    if r.model_loaded {
        println!("model             loaded into the device");
    }
    println!(
        "images            {} of {} classified",
        r.classified, r.images
    );
    if !r.failed.is_empty() {
        println!("failed            {:?}", r.failed);
    }
    println!("accuracy          {:.4}", r.accuracy);
    if let (Some(m), Some(g)) = (r.mismatches, r.golden_accuracy) {
        println!(
            "golden model      accuracy {g:.4}, {m} results differ (logits and class checked)"
        );
    }
    if let Some(m) = &r.first_mismatch {
        println!(
            "first mismatch    image {}: class {} vs golden {}",
            m.image, m.device_class, m.golden_class
        );
    }
    println!("end to end        {:.1} images/s", r.images_per_second);
    println!(
        "on chip           {:.0} cycles/image (slowest layer busy); {:.0} device cycles/image end to end",
        r.cycles_per_image, r.device_cycles_per_image
    );
    println!(
        "wire              {:.0} bytes/image sent ({:.2} of the raw pixels), {:.0} received",
        r.wire_bytes_per_image, r.wire_ratio_to_raw, r.response_bytes_per_image
    );
    if let Some(u) = r.link_utilisation {
        println!("link utilisation  {:.1} %", 100.0 * u);
    }
    println!(
        "link              {} requests, {} retries, {} corrupt responses, {} busy",
        r.link.requests, r.link.retries, r.link.corrupt_responses, r.link.busy
    );
}
