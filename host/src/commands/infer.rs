//! `fpga-host infer`: classify test images on a device (a board on a serial port, or the
//! simulated device behind a pseudo-terminal) and compare every result with the golden model.

use super::{DataArgs, Engine, HwArgs, NetlistSource, print_json, start_simulated};
use crate::client::{Client, LinkStats};
use crate::fleet::{DeviceShare, Opener, classify_shared};
use crate::images::{self, ImageResult};
use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use fs_hdl::core::accelerator::Counter;
use fs_hdl::protocol::{DeviceCounter, Status};
use fs_hdl::sim::compare::{Mismatch, result_difference};
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// A board on a serial port (`--port`).
    Serial,
    /// The RustHDL simulation of the device behind a pseudo-terminal (no board needed).
    Sim,
    /// An Opal Kelly XEM7010 over USB (FrontPanel; `--port` is its serial number, if more
    /// than one is plugged in). Needs fpga-host built with `--features xem7010`.
    Xem7010,
}

#[derive(Args)]
pub struct InferArgs {
    /// Where the accelerator is.
    #[arg(long, value_enum, default_value_t = DeviceKind::Serial)]
    pub device: DeviceKind,
    /// Serial port of the board (e.g. /dev/ttyUSB1; `fpga-host ports` lists them), or the
    /// XEM7010's serial number. Give it several times to share the images among several
    /// boards.
    #[arg(long, required_if_eq("device", "serial"))]
    pub port: Vec<String>,
    /// Simulated devices sharing the images (`--device sim`).
    #[arg(long, default_value_t = 1)]
    pub devices: usize,
    /// Images a device takes from the shared queue at a time (default: all of them with one
    /// device, 32 with several).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// Testing: the first simulated device goes silent after sending this many bytes.
    #[arg(long, hide = true)]
    pub sim_vanish_after: Option<u64>,
    /// XEM7010: configure its FPGA with this bitstream first. `--engine netlist`: the
    /// bitstream to read back (default: the committed one of `--board`; for an ECP5 board
    /// the netlist after synthesis, build/boards/BOARD/top.json).
    #[arg(long)]
    pub bitstream: Option<PathBuf>,
    /// `--engine netlist`: the board whose bitstream is read back (`fpga-host boards` lists
    /// them); its model is then the default model.
    #[arg(long)]
    pub board: Option<String>,
    /// Baud rate of the serial port (default: the rates the boards' bitstreams use, as
    /// `fpga-host boards` lists them, tried slowest first until the device answers).
    #[arg(long)]
    pub baud: Option<u32>,
    /// Model file: loaded into the device when the device holds another model of its design
    /// (default: the board's model with `--board`, else models/mnist-mlp.fsnn).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Test images to classify.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Classify these files instead of test images: PNG, JPEG, PGM/PPM pictures, folders of
    /// them, or .npy arrays, made into the model's input by the rule in the README (grey,
    /// the model's size, its pixel range); one result per file.
    #[arg(long, num_args = 1.., conflicts_with_all = ["count", "dataset"])]
    pub images: Vec<PathBuf>,
    /// With --images: the results as CSV (one line per file) instead of a table.
    #[arg(long, requires = "images", conflicts_with = "json")]
    pub csv: bool,
    /// Compare every result (logits and class) with the golden model.
    #[arg(long)]
    pub check: bool,
    /// Seconds to wait for a response before sending the request again (default: 1 for a
    /// board; for the simulated device, whose clock is slow: 120 under RustHDL, 10 under
    /// Verilator, 30 for an iCE40 netlist, 180 for an ECP5 netlist).
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
    /// Simulator of the device (`--device sim` only): RustHDL (no tools needed) or its Verilog
    /// under Verilator (much faster; needs verilator and a C++ compiler).
    #[arg(long, value_enum, default_value_t = Engine::Rusthdl)]
    pub engine: Engine,
    /// Where Verilator builds are cached.
    #[arg(long, default_value = "build/verilator")]
    pub build_dir: PathBuf,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    device: DeviceKind,
    /// The simulator, for `--device sim`.
    engine: Option<Engine>,
    /// The board whose bitstream the netlist engine read back.
    board: Option<&'static str>,
    lanes: Vec<u16>,
    /// Images asked for, and those whose result came back.
    images: usize,
    classified: usize,
    /// Images whose result was lost (named, never silently dropped).
    failed: Vec<usize>,
    /// Against the labels (`None` for files, which have none).
    accuracy: Option<f64>,
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
    /// With several devices: each one's share (images, link, why it left the run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    devices: Vec<DeviceShare>,
    /// With `--images`: every file's result, in the order given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<ImageResult>,
}

pub fn run(args: InferArgs) -> Result<()> {
    if args.board.is_some()
        && !(args.device == DeviceKind::Sim && matches!(args.engine, Engine::Netlist))
    {
        bail!("--board names the board whose bitstream `--device sim --engine netlist` reads back");
    }
    let netlist = args
        .board
        .as_deref()
        .map(|board| NetlistSource::new(board, args.bitstream.clone()))
        .transpose()?;
    let model_path = args.model.clone().unwrap_or_else(|| {
        PathBuf::from(
            netlist
                .as_ref()
                .map_or("models/mnist-mlp.fsnn", |n| n.board.model),
        )
    });
    let model = modelfile::load(&model_path)?;
    // Before anything is sent or simulated: whether any device can run this model at all.
    fs_hdl::core::accelerator::supports(&model)?;
    // Test images with their labels, or the user's files.
    let (test, files) = if args.images.is_empty() {
        let test = args.data.load_for(model.input())?.test.take(args.count);
        (Some(test), Vec::new())
    } else {
        (None, images::load(&args.images, model.input())?)
    };
    let images: Vec<&[u8]> = match &test {
        Some(test) => (0..test.len()).map(|i| test.image(i)).collect(),
        None => files.iter().map(|f| f.pixels.as_slice()).collect(),
    };
    let labels: Option<Vec<usize>> = test
        .as_ref()
        .map(|test| (0..test.len()).map(|i| test.label(i)).collect());
    for image in &images {
        model.input().check_image(image)?;
    }
    let sims = match args.device {
        DeviceKind::Sim => {
            let hw = HwArgs::fixed(&args.lanes);
            let config = hw.config(&model)?;
            let mut sims = Vec::new();
            for n in 0..args.devices.max(1) {
                let mut sim = start_simulated(
                    &model,
                    &config,
                    args.engine,
                    netlist.as_ref(),
                    &args.build_dir,
                    !args.json && n == 0,
                )?;
                if n == 0
                    && let Some(bytes) = args.sim_vanish_after
                {
                    sim.vanish_after(bytes);
                }
                sims.push(sim);
            }
            sims
        }
        DeviceKind::Serial | DeviceKind::Xem7010 => Vec::new(),
    };
    let default_timeout = match (args.device, args.engine) {
        (DeviceKind::Sim, Engine::Rusthdl) => 120.0,
        (DeviceKind::Sim, Engine::Verilator) => 10.0,
        // A request of the largest payload takes about a second on an iCE40 board's pins; an
        // ECP5 netlist simulates about 3,600 cycles a second (docs/boards.md), so a classify
        // request of a few hundred bytes at 20 to 25 clocks a bit takes 20 to 30 s alone.
        (DeviceKind::Sim, Engine::Netlist) => match netlist.as_ref().map(|n| n.board.part.family) {
            Some(fs_hdl::fpga::Family::Ecp5) => 180.0,
            _ => 30.0,
        },
        _ => 1.0,
    };
    let timeout = Duration::from_secs_f64(args.timeout.unwrap_or(default_timeout));
    let rates = args.baud.map_or_else(fs_boards::baud_rates, |b| vec![b]);
    let retries = args.retries;
    // Every device's link, opened in the device's own thread; with the baud rate it runs at.
    let mut devices: Vec<(String, Opener<'_>)> = Vec::new();
    let bauds = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    match args.device {
        DeviceKind::Sim => {
            for (n, sim) in sims.iter().enumerate() {
                let path = sim.path.clone();
                let baud = rates[0];
                // (A pseudo-terminal has no baud rate.)
                devices.push((
                    format!("sim {n}"),
                    Box::new(move || Client::open(&path, baud, timeout, retries)),
                ));
            }
        }
        DeviceKind::Xem7010 => devices.push((
            "xem7010".into(),
            Box::new(|| xem7010_client(&args, timeout)),
        )),
        DeviceKind::Serial => {
            for port in args.port.clone() {
                let (rates, bauds) = (rates.clone(), bauds.clone());
                let fixed = args.baud;
                devices.push((
                    port.clone(),
                    Box::new(move || {
                        let (client, baud) = match fixed {
                            Some(baud) => (Client::open(&port, baud, timeout, retries)?, baud),
                            // (One try per rate, each with the full timeout: a simulated
                            // device served on a terminal can be slow to answer.)
                            None => Client::open_probing(&port, &rates, timeout, timeout, retries)?,
                        };
                        bauds.lock().unwrap_or_else(|e| e.into_inner()).push(baud);
                        Ok(client)
                    }),
                ));
            }
        }
    }
    let several = devices.len() > 1;
    let chunk = match args.chunk {
        Some(chunk) => chunk,
        None if several => 32,
        None => images.len(),
    };
    let layers = model.layers.len();
    let counters = Counter::count(layers);
    let shared = classify_shared(devices, &model, &images, chunk, counters, args.json);
    for sim in sims {
        sim.stop()?;
    }
    // A run in which no device got going at all: its one error is the answer.
    if shared
        .devices
        .iter()
        .all(|d| d.error.is_some() && d.images == 0)
    {
        let errors: Vec<String> = shared
            .devices
            .iter()
            .map(|d| match several {
                true => format!("{}: {}", d.name, d.error.as_deref().unwrap_or_default()),
                false => d.error.clone().unwrap_or_default(),
            })
            .collect();
        bail!("{}", errors.join("\n"));
    }
    let elapsed = shared.seconds;
    let mut link = LinkStats::default();
    for d in &shared.devices {
        link += &d.link;
    }
    let status = sum_status(shared.devices.iter().filter_map(|d| d.status.as_ref()));
    let lanes = shared
        .devices
        .iter()
        .find(|d| !d.lanes.is_empty())
        .map_or(Vec::new(), |d| d.lanes.clone());
    let model_loaded = shared.devices.iter().any(|d| d.model_loaded);
    let baud = bauds
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .min()
        .unwrap_or(rates[0]);
    // Why devices left the run (named at the end if images were lost).
    let errors: Vec<(String, String)> = shared
        .devices
        .iter()
        .filter_map(|d| d.error.clone().map(|e| (d.name.clone(), e)))
        .collect();
    let batch = &shared;

    let engine = args.check.then(|| FixedEngine::new(&model));
    let mut mismatches = 0;
    let mut first_mismatch = None;
    let (mut correct, mut golden_correct, mut classified) = (0, 0, 0);
    let mut results = Vec::new();
    for (n, result) in batch.results.iter().enumerate() {
        let golden = engine.as_ref().map(|e| e.run(images[n]));
        if let Some(file) = files.get(n) {
            results.push(ImageResult {
                file: file.name.clone(),
                class: result.as_ref().map(|(_, c)| *c as usize),
                logits: result.as_ref().map_or(Vec::new(), |(l, _)| l.clone()),
                golden_class: golden.as_ref().map(|g| g.class()),
                golden_logits: golden.as_ref().map(|g| g.logits.clone()),
            });
        }
        let Some((logits, class)) = result else {
            continue;
        };
        classified += 1;
        let label = labels.as_ref().map(|l| l[n]);
        correct += (Some(*class as usize) == label) as usize;
        if let Some(golden) = &golden {
            golden_correct += (Some(golden.class()) == label) as usize;
            if let Some(m) = result_difference(n, logits, *class as usize, golden) {
                mismatches += 1;
                first_mismatch.get_or_insert(m);
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
    let sent = link.bytes_sent as f64;
    let received = link.bytes_received as f64;
    let raw = model.input().size() as f64;
    let busiest_layer = status.as_ref().map_or(0, |s| {
        (0..layers)
            .map(|l| s.accelerator[Counter::Busy(l).select(layers)])
            .max()
            .unwrap_or(0)
    });
    let report = Report {
        device: args.device,
        engine: (args.device == DeviceKind::Sim).then_some(args.engine),
        board: netlist.as_ref().map(|n| n.board.name),
        lanes,
        images: images.len(),
        classified,
        failed: batch.failed.clone(),
        accuracy: labels.as_ref().map(|_| per_image(correct as f64)),
        mismatches: engine.as_ref().map(|_| mismatches),
        first_mismatch,
        golden_accuracy: labels
            .as_ref()
            .and(engine.as_ref())
            .map(|_| per_image(golden_correct as f64)),
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
            .then(|| sent.max(received) * 10.0 / baud as f64 / elapsed.max(1e-9)),
        model_loaded,
        link,
        device_counters: status.as_ref().map_or(Vec::new(), device_counters),
        devices: if several { shared.devices } else { Vec::new() },
        files: results,
    };
    if args.json {
        print_json(&report)?;
    } else if args.csv {
        images::print_results(&report.files, true);
    } else {
        if !report.files.is_empty() {
            images::print_results(&report.files, false);
        }
        print_report(&report);
    }
    if !report.failed.is_empty() {
        let why: Vec<String> = errors
            .iter()
            .map(|(name, e)| match several {
                true => format!("{name}: {e}"),
                false => e.clone(),
            })
            .collect();
        bail!(
            "{} of {} images got no result (results above): {:?}{}",
            report.failed.len(),
            images.len(),
            report.failed,
            match why.is_empty() {
                true => String::new(),
                false => format!("; {}", why.join("; ")),
            }
        );
    }
    if mismatches > 0 {
        bail!("{mismatches} results differ from the golden model");
    }
    Ok(())
}

#[cfg(feature = "xem7010")]
fn xem7010_client(args: &InferArgs, timeout: Duration) -> Result<Client> {
    let (link, name) = crate::frontpanel::FrontPanelLink::open(
        args.port.first().map(String::as_str),
        args.bitstream.as_deref(),
    )?;
    Client::connect(Box::new(link), &name, timeout, args.retries)
}

#[cfg(not(feature = "xem7010"))]
fn xem7010_client(_: &InferArgs, _: Duration) -> Result<Client> {
    bail!(
        "this fpga-host was built without the xem7010 feature, which talks to the XEM7010 \
         through Opal Kelly's FrontPanel SDK: build it with `--features xem7010` (docs/boards.md)"
    )
}

/// The devices' counters added up (`None` when no device answered a status request).
fn sum_status<'a>(statuses: impl Iterator<Item = &'a Status>) -> Option<Status> {
    statuses.fold(None, |sum: Option<Status>, s| {
        Some(match sum {
            None => s.clone(),
            Some(mut sum) => {
                for (a, b) in sum.accelerator.iter_mut().zip(&s.accelerator) {
                    *a = a.saturating_add(*b);
                }
                for (a, b) in sum.device.iter_mut().zip(&s.device) {
                    *a = a.saturating_add(*b);
                }
                sum
            }
        })
    })
}

fn device_counters(status: &Status) -> Vec<(String, u32)> {
    DeviceCounter::ALL
        .iter()
        .map(|&c| (format!("{c:?}"), status.device(c)))
        .collect()
}

fn print_report(r: &Report) {
    match r.engine {
        Some(engine) if r.board.is_some() => println!(
            "device            {:?} ({engine:?} of {}), lanes {:?}",
            r.device,
            r.board.unwrap_or_default(),
            r.lanes
        ),
        Some(engine) => println!(
            "device            {:?} ({engine:?}), lanes {:?}",
            r.device, r.lanes
        ),
        None => println!("device            {:?}, lanes {:?}", r.device, r.lanes),
    }
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
    if let Some(a) = r.accuracy {
        println!("accuracy          {a:.4}");
    }
    match (r.mismatches, r.golden_accuracy) {
        (Some(m), Some(g)) => println!(
            "golden model      accuracy {g:.4}, {m} results differ (logits and class checked)"
        ),
        (Some(m), None) => {
            println!("golden model      {m} results differ (logits and class checked)")
        }
        _ => {}
    }
    if let Some(m) = &r.first_mismatch {
        println!("first mismatch    {m}");
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
    for d in &r.devices {
        println!(
            "  {:<16}{} images in {} chunks, {:.1} images/s{}",
            d.name,
            d.images,
            d.chunks,
            d.images as f64 / d.seconds.max(1e-9),
            d.error
                .as_ref()
                .map_or(String::new(), |e| format!("; left the run: {e}"))
        );
    }
}
