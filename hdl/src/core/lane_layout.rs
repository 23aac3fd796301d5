//! Where a lane keeps its neurons: the one definition of a lane's weight and state memory
//! layout, used by the RTL that is built with these contents ([`crate::core::dense_layer`],
//! [`crate::core::lane`]) and by the run-time loader that writes them over the link
//! ([`crate::protocol::requests`]).

use crate::core::conv_layout::ConvLayout;
use crate::core::pixel_conv_layer::{channel_contents, from_pixels};
use anyhow::Result;
use fs_model::geometry::LayerKind;
use fs_model::network::{FsLayer, Model};

/// The memory contents (weights, initial values) of every lane of layer `l` of `model` built
/// with `lanes` lanes: a dense layer's as [`lane_contents`] lays them out, a convolution's as
/// [`ConvLayout::lane_contents`]; a first layer computed from pixels has them per channel
/// ([`channel_contents`]), whatever its lanes.
pub fn layer_contents(model: &Model, l: usize, lanes: usize) -> Result<Vec<(Vec<i64>, Vec<i64>)>> {
    let geometry = model.geometry();
    let layer = &model.layers[l];
    if l == 0 && from_pixels(model) {
        let channels = geometry[0].neurons.channels;
        return Ok((0..channels).map(|c| channel_contents(layer, c)).collect());
    }
    Ok(match geometry[l].kind {
        LayerKind::Dense => (0..lanes).map(|p| lane_contents(layer, lanes, p)).collect(),
        LayerKind::Conv2d { .. } => {
            let previous = l.checked_sub(1).map(|p| &geometry[p]);
            let layout = ConvLayout::new(&geometry[l], previous, lanes)?;
            (0..lanes).map(|p| layout.lane_contents(layer, p)).collect()
        }
    })
}

/// The memory contents of lane `p` of `lanes` for `layer`: the weights of its neurons
/// `j = g P + p` at `g * inputs + i`, and their initial values `B + IMP` (zeros past the last
/// neuron).
pub fn lane_contents(layer: &FsLayer, lanes: usize, p: usize) -> (Vec<i64>, Vec<i64>) {
    let (outputs, inputs) = layer.weight.dim();
    let groups = outputs.div_ceil(lanes);
    let neuron = |g: usize| Some(g * lanes + p).filter(|&j| j < outputs);
    let mut weights = vec![0; inputs * groups];
    for g in 0..groups {
        if let Some(j) = neuron(g) {
            for i in 0..inputs {
                weights[weight_address(inputs, g, i)] = layer.weight[[j, i]] as i64;
            }
        }
    }
    let init = (0..groups)
        .map(|g| neuron(g).map_or(0, |j| layer.bias[j] as i64 + layer.imp as i64))
        .collect();
    (weights, init)
}

/// Where a lane keeps the weight from input `i` of its neuron in group `g`, for a layer of
/// `inputs` inputs: the dense layer's accumulation addresses its weights in this order.
pub fn weight_address(inputs: usize, g: usize, i: usize) -> usize {
    g * inputs + i
}

/// The state memory of a lane whose neuron groups start at `init` (`B + IMP`): bank 0, bank 1
/// and the initial-value region, each `init` itself (an idle layer's banks are initialised).
pub fn initial_state(init: &[i64]) -> Vec<i64> {
    init.iter().cycle().take(3 * init.len()).copied().collect()
}
