//! What a host sends to a device of a given design: the identity it expects the device to
//! answer, and the load requests that put a model of the same design into it. Both follow
//! from the model and the lanes alone; the device's RTL (`crate::link::device`) is built from
//! the same definitions.

use super::{
    DEVICE_MAX_PAYLOAD, Identity, LOAD_HEADER_BYTES, LoadTarget, PROTOCOL_VERSION, design_hash,
    load_payload, model_hash,
};
use crate::core::accelerator::HwConfig;
use crate::core::lane_layout::initial_state;
use crate::core::lane_layout::layer_contents;
use anyhow::Result;
use fs_model::network::Model;

/// What a device built for `model` with `config` answers to identify (with the built-in
/// model loaded).
pub fn identity(model: &Model, config: &HwConfig) -> Result<Identity> {
    Ok(Identity {
        version: PROTOCOL_VERSION,
        max_payload: DEVICE_MAX_PAYLOAD as u16,
        inputs: model.input().size() as u16,
        classes: model.layers.last().map_or(0, |l| l.outputs()) as u16,
        lanes: config.lanes.iter().map(|&l| l as u16).collect(),
        design_hash: design_hash(model, &config.lanes)?,
        model_hash: model_hash(model)?,
    })
}

/// The load requests that put `model` into a device built with `lanes` for a model of the
/// same design: the fingerprint cleared, every lane's weights and state, the fingerprint set.
pub fn load_requests(model: &Model, lanes: &[usize]) -> Result<Vec<Vec<u8>>> {
    let per_request = (DEVICE_MAX_PAYLOAD - LOAD_HEADER_BYTES) / 4;
    let mut requests = vec![load_payload(0, LoadTarget::ModelHash, 0, 0, &[0, 0])];
    for (l, &lane_count) in lanes.iter().enumerate().take(model.layers.len()) {
        for (p, (weights, init)) in layer_contents(model, l, lane_count)?
            .into_iter()
            .enumerate()
        {
            for (target, words) in [
                (LoadTarget::Weights, weights),
                (LoadTarget::InitialValues, initial_state(&init)),
            ] {
                for (c, chunk) in words.chunks(per_request).enumerate() {
                    let words: Vec<u32> = chunk.iter().map(|&w| w as u32).collect();
                    requests.push(load_payload(
                        l as u8,
                        target,
                        p as u16,
                        (c * per_request) as u16,
                        &words,
                    ));
                }
            }
        }
    }
    let hash = model_hash(model)?;
    requests.push(load_payload(
        0,
        LoadTarget::ModelHash,
        0,
        0,
        &[hash as u32, (hash >> 32) as u32],
    ));
    Ok(requests)
}
