//! `fpga-host selftest`: the first minutes with a freshly programmed board. Each check says
//! what it found and, when it fails, what that means and what to try.

use super::DataArgs;
use crate::client::Client;
use crate::stream::{classify, prepare};
use anyhow::{Result, bail};
use clap::Args;
use fs_hdl::protocol::Command;
use fs_hdl::sim::compare::result_difference;
use fs_model::infer::FixedEngine;
use fs_model::modelfile;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct SelftestArgs {
    /// Serial port of the board (`fpga-host ports` lists them).
    #[arg(long)]
    pub port: String,
    /// Baud rate (default: the boards' rates, tried in turn).
    #[arg(long)]
    pub baud: Option<u32>,
    /// The model the board should run (loaded when the board holds another of its design).
    #[arg(long, default_value = "models/mnist-mlp.fsnn")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Known test images classified and checked against the golden model.
    #[arg(long, default_value_t = 20)]
    pub count: usize,
    /// Seconds to wait for each response.
    #[arg(long, default_value_t = 1.0)]
    pub timeout: f64,
}

pub fn run(args: SelftestArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let timeout = Duration::from_secs_f64(args.timeout);
    let rates = args.baud.map_or_else(fs_boards::baud_rates, |b| vec![b]);
    // 1. The link: the first rate at which the board identifies itself (the error tells
    // silence from bad frames).
    let (mut client, baud) = Client::open_probing(&args.port, &rates, timeout, timeout, 1)?;
    println!("ok    link: the board answers at {baud} baud");
    // 2. The design and the model.
    // (`prepare` says what to do about another design, and loads another model.)
    let (identity, loaded) =
        prepare(&mut client, &model, true).map_err(|e| anyhow::anyhow!("design: {e:#}"))?;
    println!(
        "ok    design: lanes {:?}, {} inputs, {} classes; model {}",
        identity.lanes,
        identity.inputs,
        identity.classes,
        if loaded {
            "loaded (the board held another of this design)"
        } else {
            "already on the board"
        }
    );
    // 3. The link under load: round trips without a retry or a bad frame.
    let before = client.stats.clone();
    for _ in 0..20 {
        client.expect(Command::Identify, &[])?;
    }
    let (retries, bad) = (
        client.stats.retries - before.retries,
        client.stats.corrupt_responses - before.corrupt_responses,
    );
    if retries + bad > 0 {
        bail!(
            "bad frames: 20 round trips needed {retries} retries ({bad} corrupted responses). \
             The link loses bytes: a baud rate at the edge of the board's clock, a long cable, \
             or a USB hub; try a lower --baud with a bitstream built for it"
        );
    }
    println!("ok    link test: 20 round trips, no retry");
    // 4. Known images against the golden model.
    let test = args.data.load_for(model.input())?.test.take(args.count);
    let images: Vec<&[u8]> = (0..test.len()).map(|i| test.image(i)).collect();
    let batch = classify(&mut client, &identity, &images, true);
    if let Some(e) = batch.error {
        bail!("classify: {e:#}");
    }
    let engine = FixedEngine::new(&model);
    for (n, result) in batch.results.iter().enumerate() {
        let Some((logits, class)) = result else {
            bail!("classify: image {n}'s result was lost on the link");
        };
        if let Some(m) = result_difference(n, logits, *class as usize, &engine.run(images[n])) {
            bail!(
                "wrong results: {m}. The board does not compute what the model says: a build \
                 problem. Rebuild the bitstream (scripts/build-bitstreams) and check the design \
                 with `fpga-host verify`"
            );
        }
    }
    println!(
        "ok    known images: {} classified, every logit and class equal to the golden model's",
        images.len()
    );
    Ok(())
}
