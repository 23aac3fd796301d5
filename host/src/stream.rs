//! A batch of images through a device: make sure it holds the model, stream the images and
//! collect every result, naming the images whose result was lost. `fpga-host infer` runs
//! this over a board's serial port or the simulated device; the reliability tests run it over
//! links that corrupt bytes, vanish, or are dropped by the host half way.

use crate::client::{Client, Reply};
use crate::progress;
use anyhow::{Context, Result, bail};
use fs_hdl::protocol::{
    Command, ErrorCode, Identity, PROTOCOL_VERSION, classify_payloads, design_hash, encode_image,
    load_requests, model_hash,
};
use fs_model::network::Model;
use std::time::Instant;

/// What came back for a batch; `error` says why it stopped early, if it did.
pub struct Batch {
    pub results: Vec<Option<(Vec<i64>, u8)>>,
    pub failed: Vec<usize>,
    pub error: Option<anyhow::Error>,
    /// The number of the next result.
    pub expected: usize,
}

/// Starts a session: identifies the device, resets it (a host that died may have left images
/// in flight, and the device refuses loads until they are gone), checks that it runs this
/// model's design and loads the model if it holds another one. Returns the identity and
/// whether the model was loaded.
pub fn prepare(client: &mut Client, model: &Model, quiet: bool) -> Result<(Identity, bool)> {
    let identity = client.identify().context("identifying the device")?;
    if identity.version != PROTOCOL_VERSION {
        bail!(
            "the device speaks protocol version {} and this host version {PROTOCOL_VERSION}: \
             program the board with a bitstream of this release (scripts/build-bitstreams)",
            identity.version
        );
    }
    client
        .expect(Command::Reset, &[])
        .context("resetting the device")?;
    let lanes: Vec<usize> = identity.lanes.iter().map(|&l| l as usize).collect();
    let fingerprint = model_hash(model)?;
    if identity.inputs as usize != model.input().size()
        || lanes.len() != model.layers.len()
        || identity.design_hash != design_hash(model, &lanes)?
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
    if identity.model_hash == fingerprint {
        return Ok((identity, false));
    }
    let requests = load_requests(model, &lanes)?;
    let bar = progress::bar(requests.len() as u64, "loading the model", quiet);
    for request in &requests {
        client
            .expect(Command::LoadWeights, request)
            .context("loading the model")?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let loaded = client.identify()?;
    if loaded.model_hash != fingerprint {
        bail!("the device does not report the loaded model's fingerprint after the load");
    }
    Ok((identity, true))
}

/// Streams the images and collects their results, keeping the device's decoder busy: every
/// classify request is followed by reads of results until the decoder is free again.
pub fn classify(client: &mut Client, identity: &Identity, images: &[&[u8]], quiet: bool) -> Batch {
    let codes: Vec<Vec<u8>> = images.iter().map(|i| encode_image(i)).collect();
    let payloads = classify_payloads(&codes, identity.max_payload as usize);
    let mut batch = Batch {
        results: vec![None; images.len()],
        failed: Vec::new(),
        error: None,
        expected: 0,
    };
    let bar = progress::bar(images.len() as u64, "classifying", quiet);
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
    /// those results were lost, and their images are named as failed. A response without a
    /// result counts the results sent before it too, so the loss of the last one shows.
    /// Returns whether a result came or was found lost, and whether the device's decoder is
    /// busy.
    fn read_one(
        &mut self,
        client: &mut Client,
        classes: usize,
        wait: bool,
    ) -> Result<(bool, bool)> {
        let r = client.read_result(classes, wait)?;
        let index = r.index as usize;
        let Some(result) = r.result else {
            if index > self.results.len() || index < self.expected {
                bail!(
                    "the device has sent {index} results, expected {}",
                    self.expected
                );
            }
            let lost = index > self.expected;
            self.failed.extend(self.expected..index);
            self.expected = index;
            return Ok((lost, r.decoder_busy));
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
