//! Networks from an ONNX graph, as PyTorch's `torch.onnx.export` and tf2onnx write them.
//!
//! The graph must be a chain: one image in, one tensor of logits out, each node taking the
//! value the previous one produced (plus constants). Along it the importer builds the layers
//! of an [`Ann`]: a `Gemm`, `MatMul` or `Conv` starts a layer; a constant `Add` is its bias;
//! `BatchNormalization` right after it is folded into its weights; `Relu`, `Sigmoid`, the
//! SiLU pattern `x * Sigmoid(x)` or `Swish` is its activation; `MaxPool`, `AveragePool` or
//! `GlobalAveragePool` its pooling; `Flatten` or a `Reshape` to `[batch, features]` turns
//! maps into a vector (channel-major, as the model file orders them); `Transpose` follows
//! tf2onnx between channel-last and channel-first maps; `Dropout` and `Identity` pass values on; a final `Softmax`/`LogSoftmax` is dropped (it does not change
//! the class). Anything else is refused with the node's position, name and operator, and so
//! is an attribute the importer does not handle (dilations, groups, padding of pools, ...):
//! a graph imports exactly or not at all.
//!
//! The input is the image scaled to `[0, 1]` (pixel / max value), as for `.npz` archives.

use super::channel_major_columns;
use crate::activation::Activation;
use crate::network::{Ann, AnnLayer, Geometry, InputEncoding, LayerKind, Pool, PoolKind, Shape};
use anyhow::{Context, Result, anyhow, bail, ensure};
use ndarray::{Array1, Array2, ArrayD, Ix2, IxDyn};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::{DataLocation, DataType};
use onnx_protobuf::tensor_shape_proto::dimension;
use onnx_protobuf::{AttributeProto, GraphProto, Message, ModelProto, NodeProto, TensorProto};
use protobuf::Enum;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The most elements a tensor may claim: far beyond any network a board holds, and a bound
/// on what a malformed file can make the importer allocate.
const MAX_ELEMENTS: usize = 1 << 26;

/// The operators the importer maps, for the refusal of any other.
const SUPPORTED: &str = "Gemm, MatMul, Add (a bias), Conv, BatchNormalization, Relu, Sigmoid, \
     SiLU (x * Sigmoid(x)) or Swish, MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape \
     (to [batch, features]), Transpose (between channel-last and channel-first maps), Dropout, \
     Identity, Constant and a final Softmax or LogSoftmax";

/// Reads an `.onnx` file into an ANN for images of `input`.
pub fn import_onnx(path: &Path, input: InputEncoding) -> Result<Ann> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_onnx(&bytes, input).with_context(|| format!("importing {}", path.display()))
}

/// Reads a serialised ONNX model (`ModelProto`) into an ANN for images of `input`.
pub fn read_onnx(bytes: &[u8], input: InputEncoding) -> Result<Ann> {
    input.validate().context("input encoding")?;
    let model = ModelProto::parse_from_bytes(bytes)
        .map_err(|e| anyhow!("not a valid ONNX file (protobuf: {e})"))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| anyhow!("the ONNX model has no graph"))?;
    ensure!(
        !graph.node.is_empty(),
        "the ONNX graph has no nodes (is this an ONNX model?)"
    );
    Importer::new(graph, input)?.run()
}

/// A constant tensor: an initializer, or the output of a `Constant` node.
#[derive(Clone, Debug)]
enum Constant {
    Float(ArrayD<f32>),
    Int(ArrayD<i64>),
}

/// What flows along the chain: maps (the image, convolutions, pooling) or a vector. tf2onnx
/// keeps Keras's channel-last order around its channel-first convolutions, with `Transpose`
/// nodes between: the chain follows that order until the next dense layer, whose inputs it
/// puts in the model's channel-major order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    /// `[batch, channels, height, width]`.
    Maps(Shape),
    /// `[batch, features]`.
    Flat(usize),
    /// `[batch, height, width, channels]`.
    ChannelLast(Shape),
    /// `[batch, features]`, flattened from channel-last maps.
    FlatChannelLast(Shape),
}

impl Flow {
    fn size(self) -> usize {
        match self {
            Flow::Maps(s) | Flow::ChannelLast(s) | Flow::FlatChannelLast(s) => s.size(),
            Flow::Flat(n) => n,
        }
    }

    fn shape(self) -> Shape {
        match self {
            Flow::Maps(s) | Flow::ChannelLast(s) => s,
            Flow::Flat(_) | Flow::FlatChannelLast(_) => Shape::flat(self.size()),
        }
    }

    /// Its dimensions with the batch, as ONNX sees them.
    fn dims(self) -> Vec<usize> {
        match self {
            Flow::Maps(s) => vec![1, s.channels, s.height, s.width],
            Flow::ChannelLast(s) => vec![1, s.height, s.width, s.channels],
            Flow::Flat(_) | Flow::FlatChannelLast(_) => vec![1, self.size()],
        }
    }

    /// Flattened to `[batch, features]`.
    fn flattened(self) -> Flow {
        match self {
            Flow::ChannelLast(s) | Flow::FlatChannelLast(s) if s.channels > 1 => {
                Flow::FlatChannelLast(s)
            }
            _ => Flow::Flat(self.size()),
        }
    }
}

impl std::fmt::Display for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flow::Maps(s) => write!(f, "{}x{}x{} maps", s.channels, s.height, s.width),
            Flow::Flat(n) => write!(f, "a vector of {n}"),
            Flow::ChannelLast(s) => write!(
                f,
                "channel-last {}x{}x{} maps",
                s.height, s.width, s.channels
            ),
            Flow::FlatChannelLast(s) => write!(f, "a vector of {} (channel-last)", s.size()),
        }
    }
}

/// The layer being built: its weights, then what follows them.
struct Pending {
    /// The node that started it, for messages.
    node: String,
    kind: LayerKind,
    weight: Array2<f32>,
    bias: Array1<f32>,
    activation: Option<Activation>,
    pool: Option<Pool>,
}

struct Importer<'g> {
    graph: &'g GraphProto,
    input: InputEncoding,
    constants: HashMap<&'g str, Constant>,
    /// Which node produces each tensor name.
    producer: HashMap<&'g str, usize>,
    /// The graph's image input.
    image: &'g str,
    /// Nodes already taken by an earlier one (the `Mul` of the SiLU pattern).
    taken: HashSet<usize>,
    /// The name of the tensor at the end of the chain so far, and what it holds.
    value: &'g str,
    flow: Flow,
    pending: Option<Pending>,
    layers: Vec<AnnLayer>,
    /// The `Softmax` that ended the chain.
    ended: Option<String>,
}

impl<'g> Importer<'g> {
    fn new(graph: &'g GraphProto, input: InputEncoding) -> Result<Self> {
        let mut constants = HashMap::new();
        for t in &graph.initializer {
            let c = constant(t).with_context(|| format!("initializer {:?}", t.name))?;
            constants.insert(t.name.as_str(), c);
        }
        ensure!(
            graph.sparse_initializer.is_empty(),
            "the graph has sparse initializers, which the importer does not read"
        );
        let mut producer = HashMap::new();
        for (i, node) in graph.node.iter().enumerate() {
            for out in node.output.iter().filter(|o| !o.is_empty()) {
                producer.entry(out.as_str()).or_insert(i);
            }
        }
        // Older exporters list the initializers among the inputs too.
        let images: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !constants.contains_key(i.name.as_str()))
            .collect();
        let [image] = images.as_slice() else {
            bail!(
                "the graph has {} inputs besides its weights ({}); an fs-accel network takes one \
                 image",
                images.len(),
                images
                    .iter()
                    .map(|i| format!("{:?}", i.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let flow = image_flow(image, &input)
            .with_context(|| format!("the graph's input {:?}", image.name))?;
        Ok(Importer {
            graph,
            input,
            constants,
            producer,
            image: image.name.as_str(),
            taken: HashSet::new(),
            value: image.name.as_str(),
            flow,
            pending: None,
            layers: Vec::new(),
            ended: None,
        })
    }

    fn run(mut self) -> Result<Ann> {
        let graph = self.graph;
        for (index, node) in graph.node.iter().enumerate() {
            if self.taken.contains(&index) {
                continue;
            }
            self.step(index, node)
                .with_context(|| describe(index, graph.node.len(), node))?;
        }
        self.finish()
    }

    fn step(&mut self, index: usize, node: &'g NodeProto) -> Result<()> {
        ensure!(
            node.domain.is_empty() || node.domain == "ai.onnx",
            "operator domain {:?} is not the standard ONNX one; only standard operators import",
            node.domain
        );
        let op = node.op_type.as_str();
        if op == "Constant" {
            return self.constant_node(node);
        }
        let on_chain = node.input.iter().any(|i| i == self.value);
        if !on_chain {
            // PyTorch passes shared weights through Identity nodes.
            if op == "Identity" {
                if let Some(c) = node
                    .input
                    .first()
                    .and_then(|i| self.constants.get(i.as_str()))
                {
                    let c = c.clone();
                    self.constants.insert(output(node)?, c);
                    return Ok(());
                }
            }
            return Err(self.off_chain(node));
        }
        if let Some(end) = &self.ended {
            bail!(
                "comes after {end}, which ends the network (its class); only the final node may \
                 be a Softmax"
            );
        }
        match op {
            "Gemm" => self.gemm(node),
            "MatMul" => self.matmul(node),
            "Conv" => self.conv(node),
            "Add" => self.add(node),
            "BatchNormalization" => self.batch_norm(node),
            "Relu" => {
                attributes(node, &[])?;
                self.activate(Activation::Relu, output(node)?)
            }
            "Sigmoid" => self.sigmoid(index, node),
            "Swish" => {
                let a = attributes(node, &["alpha"])?;
                let alpha = a.float("alpha")?.unwrap_or(1.0);
                ensure!(
                    alpha == 1.0,
                    "Swish with alpha = {alpha}: only alpha = 1 (SiLU) has FS-neuron parameters"
                );
                self.activate(Activation::Silu, output(node)?)
            }
            "MaxPool" | "AveragePool" => self.pool(node),
            "GlobalAveragePool" => self.global_average_pool(node),
            "Flatten" => self.flatten(node),
            "Transpose" => self.transpose(node),
            "Reshape" => self.reshape(node),
            "Dropout" => {
                // Inference: the identity, whatever the ratio.
                attributes(node, &["ratio", "seed"])?;
                self.pass(node)
            }
            "Identity" => self.pass(node),
            "Softmax" | "LogSoftmax" => self.softmax(node),
            _ => bail!("operator {op} is not supported; the importer maps {SUPPORTED}"),
        }
    }

    /// Explains why a node that does not take the chain's value cannot be imported.
    fn off_chain(&self, node: &NodeProto) -> anyhow::Error {
        for name in node.input.iter().filter(|i| !i.is_empty()) {
            if self.constants.contains_key(name.as_str()) {
                continue;
            }
            if name == self.image {
                return anyhow!(
                    "takes the image {name:?}, which the layer chain has already taken; \
                     branches are not supported (fs-accel runs a chain of layers)"
                );
            }
            return match self.producer.get(name.as_str()) {
                Some(&p) => anyhow!(
                    "takes {name:?} (from {}), which is not the end of the layer chain ({:?}); \
                     branches, residual connections and shapes computed at run time are not \
                     supported (export with constant folding)",
                    describe(p, self.graph.node.len(), &self.graph.node[p]),
                    self.value
                ),
                None => anyhow!(
                    "takes {name:?}, which no node, initializer or graph input defines (a \
                     dangling name)"
                ),
            };
        }
        anyhow!(
            "computes on constants only, apart from the layer chain; export with constant \
             folding (torch.onnx.export(..., do_constant_folding=True))"
        )
    }

    /// The float constant at input `i`.
    fn float_input(&self, node: &NodeProto, i: usize, what: &str) -> Result<&ArrayD<f32>> {
        match self.constant_input(node, i, what)? {
            Constant::Float(a) => Ok(a),
            Constant::Int(_) => bail!("{what} (input {i}) holds integers, not floats"),
        }
    }

    fn constant_input(&self, node: &NodeProto, i: usize, what: &str) -> Result<&Constant> {
        let name = node
            .input
            .get(i)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| anyhow!("{what} (input {i}) is missing"))?;
        if let Some(c) = self.constants.get(name.as_str()) {
            return Ok(c);
        }
        match self.producer.get(name.as_str()) {
            Some(&p) => bail!(
                "{what} (input {i}, {name:?}) is computed by {}; the importer needs it as a \
                 constant (an initializer)",
                describe(p, self.graph.node.len(), &self.graph.node[p])
            ),
            None => bail!(
                "{what} (input {i}) is {name:?}, which no node, initializer or graph input \
                 defines (a dangling name)"
            ),
        }
    }

    fn constant_node(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(
            node,
            &[
                "value",
                "value_float",
                "value_floats",
                "value_int",
                "value_ints",
            ],
        )?;
        let c = if let Some(t) = a.tensor("value")? {
            constant(t)?
        } else if let Some(f) = a.float("value_float")? {
            Constant::Float(ArrayD::from_elem(IxDyn(&[]), f))
        } else if let Some(f) = a.floats("value_floats")? {
            Constant::Float(ArrayD::from_shape_vec(IxDyn(&[f.len()]), f.to_vec())?)
        } else if let Some(i) = a.int("value_int")? {
            Constant::Int(ArrayD::from_elem(IxDyn(&[]), i))
        } else if let Some(i) = a.ints("value_ints")? {
            Constant::Int(ArrayD::from_shape_vec(IxDyn(&[i.len()]), i.to_vec())?)
        } else {
            bail!("a Constant without a value (value, value_float(s) or value_int(s))")
        };
        self.constants.insert(output(node)?, c);
        Ok(())
    }

    /// Starts a layer on the chain's value, closing the one before.
    fn begin_layer(
        &mut self,
        node: &'g NodeProto,
        kind: LayerKind,
        weight: Array2<f32>,
        bias: Array1<f32>,
    ) -> Result<()> {
        ensure!(
            weight.nrows() == bias.len(),
            "{} outputs but {} biases",
            weight.nrows(),
            bias.len()
        );
        self.close_layer(Some(node))?;
        let weight = match self.flow {
            Flow::FlatChannelLast(maps) => channel_major_columns(&weight, maps),
            _ => weight,
        };
        let geometry = Geometry::new(kind, self.flow.shape(), weight.dim(), None)?;
        self.flow = match kind {
            LayerKind::Dense => Flow::Flat(weight.nrows()),
            LayerKind::Conv2d { .. } => Flow::Maps(geometry.neurons),
        };
        self.pending = Some(Pending {
            node: describe_short(node),
            kind,
            weight,
            bias,
            activation: None,
            pool: None,
        });
        self.value = output(node)?;
        Ok(())
    }

    /// Appends the layer being built; `next` is the node that starts the next one.
    fn close_layer(&mut self, next: Option<&NodeProto>) -> Result<()> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let activation = match (p.activation, next) {
            (Some(a), Some(_)) => a,
            (None, Some(next)) => bail!(
                "follows the layer of {} without an activation between them; the hidden layers \
                 of an FS network have a non-linear activation (ReLU, sigmoid or SiLU), and {} \
                 would need one",
                p.node,
                describe_short(next)
            ),
            (None, None) => Activation::Identity,
            (Some(a), None) => bail!(
                "the output layer ({}) ends in {a}; the output layer of an FS network is linear \
                 (its potentials are the logits): export the network without it",
                p.node
            ),
        };
        ensure!(
            next.is_some() || p.pool.is_none(),
            "the output layer ({}) is pooled; its potentials are the logits",
            p.node
        );
        self.layers.push(AnnLayer {
            kind: p.kind,
            weight: p.weight,
            bias: p.bias,
            activation,
            pool: p.pool,
        });
        Ok(())
    }

    fn gemm(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["alpha", "beta", "transA", "transB"])?;
        ensure!(
            a.int("transA")?.unwrap_or(0) == 0,
            "transA = 1 (the activations transposed) is not supported"
        );
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be input A"
        );
        let inputs = self.flat_inputs("Gemm")?;
        let b = matrix(
            self.float_input(node, 1, "B (the weights)")?,
            "B (the weights)",
        )?;
        let weight = match a.int("transB")?.unwrap_or(0) {
            0 => b.reversed_axes(),
            1 => b,
            t => bail!("transB = {t}"),
        };
        ensure!(
            weight.ncols() == inputs,
            "the weights take {} inputs, the layer before gives {inputs}",
            weight.ncols()
        );
        let weight = weight * a.float("alpha")?.unwrap_or(1.0);
        let beta = a.float("beta")?.unwrap_or(1.0);
        let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(_) => {
                per_channel(
                    self.float_input(node, 2, "C (the bias)")?,
                    &[1, weight.nrows()],
                )? * beta
            }
            None => Array1::zeros(weight.nrows()),
        };
        self.begin_layer(
            node,
            LayerKind::Dense,
            weight.as_standard_layout().into_owned(),
            bias,
        )
    }

    fn matmul(&mut self, node: &'g NodeProto) -> Result<()> {
        attributes(node, &[])?;
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be the first operand (x @ W)"
        );
        let inputs = self.flat_inputs("MatMul")?;
        let w = matrix(self.float_input(node, 1, "the weights")?, "the weights")?;
        ensure!(
            w.nrows() == inputs,
            "the weights are {}x{}, [inputs, outputs] for the {inputs} inputs of the layer \
             before",
            w.nrows(),
            w.ncols()
        );
        let outputs = w.ncols();
        let weight = w.reversed_axes().as_standard_layout().into_owned();
        self.begin_layer(node, LayerKind::Dense, weight, Array1::zeros(outputs))
    }

    /// The chain's width, which a dense layer needs flat.
    fn flat_inputs(&self, op: &str) -> Result<usize> {
        match self.flow {
            Flow::Flat(_) | Flow::FlatChannelLast(_) => Ok(self.flow.size()),
            flow => bail!(
                "a {op} takes a [batch, features] matrix, but here the values are {flow}; \
                 flatten them first (nn.Flatten)"
            ),
        }
    }

    fn conv(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(
            node,
            &[
                "auto_pad",
                "dilations",
                "group",
                "kernel_shape",
                "pads",
                "strides",
            ],
        )?;
        let Flow::Maps(maps) = self.flow else {
            bail!(
                "a Conv takes [batch, channels, height, width] maps, but here the values are {}",
                self.flow
            )
        };
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be input X"
        );
        let group = a.int("group")?.unwrap_or(1);
        ensure!(
            group == 1,
            "group = {group} (grouped or depthwise convolution) is not supported"
        );
        ensure_all_one(a.ints("dilations")?, "dilations", "dilated convolution")?;
        let w = self.float_input(node, 1, "W (the kernels)")?;
        let &[out, inputs, kh, kw] = w.shape() else {
            bail!(
                "W (the kernels) has shape {:?}; a 2-D convolution's is [out, in, kh, kw]",
                w.shape()
            )
        };
        ensure!(
            kh == kw,
            "a {kh}x{kw} kernel; only square kernels are supported"
        );
        if let Some(k) = a.ints("kernel_shape")? {
            ensure!(
                k == [kh as i64, kw as i64],
                "kernel_shape {k:?} disagrees with W's {kh}x{kw}"
            );
        }
        ensure!(
            inputs == maps.channels,
            "the kernels take {inputs} channels, the maps before have {}",
            maps.channels
        );
        let stride = square(a.ints("strides")?, "strides", 1)?;
        let padding = padding(&a, "Conv")?;
        let weight = w
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order((out, inputs * kh * kw))?;
        let bias = match node.input.get(2).filter(|n| !n.is_empty()) {
            Some(_) => vector(
                self.float_input(node, 2, "B (the bias)")?,
                out,
                "B (the bias)",
            )?,
            None => Array1::zeros(out),
        };
        let kind = LayerKind::Conv2d {
            kernel: kh,
            stride,
            padding,
        };
        self.begin_layer(node, kind, weight, bias)
    }

    /// The layer being built, if its weights are the last thing on the chain.
    fn linear_tail(&mut self, what: &str) -> Result<&mut Pending> {
        match &mut self.pending {
            None => bail!(
                "{what} on the image itself; fs-accel takes the pixels scaled to [0, 1] as they \
                 are: fold any normalisation into the first layer"
            ),
            Some(p) if p.activation.is_some() || p.pool.is_some() => bail!(
                "{what} after the activation or pooling of {}; only one right after the layer's \
                 weights can be folded into them",
                p.node
            ),
            Some(p) => Ok(p),
        }
    }

    fn add(&mut self, node: &'g NodeProto) -> Result<()> {
        attributes(node, &[])?;
        ensure!(
            node.input.len() == 2,
            "an Add of {} inputs",
            node.input.len()
        );
        let other = usize::from(node.input[0] == self.value);
        ensure!(
            node.input[other] != self.value,
            "adds the chain's value to itself"
        );
        let c = self
            .float_input(node, other, "the added tensor")
            .context("an Add of two computed values (a residual connection) is not supported")?
            .clone();
        self.linear_tail("an Add")?;
        let bias = per_channel(&c, &self.flow.dims())?;
        self.linear_tail("an Add")?.bias += &bias;
        self.value = output(node)?;
        Ok(())
    }

    fn batch_norm(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["epsilon", "momentum", "training_mode", "spatial"])?;
        ensure!(
            a.int("training_mode")?.unwrap_or(0) == 0,
            "training_mode = 1; export the network in eval mode (model.eval())"
        );
        ensure!(
            a.int("spatial")?.unwrap_or(1) == 1,
            "spatial = 0 (per-element statistics) is not supported"
        );
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be input X"
        );
        let epsilon = f64::from(a.float("epsilon")?.unwrap_or(1e-5));
        let outputs = self.linear_tail("a BatchNormalization")?.weight.nrows();
        let mut params = Vec::new();
        for (i, what) in [(1, "scale"), (2, "B"), (3, "mean"), (4, "var")] {
            params.push(vector(self.float_input(node, i, what)?, outputs, what)?);
        }
        let p = self.linear_tail("a BatchNormalization")?;
        // y = (x - mean) * scale / sqrt(var + epsilon) + B, with x = W a + b.
        let rows = p.weight.rows_mut().into_iter().zip(p.bias.iter_mut());
        for (o, (mut row, bias)) in rows.enumerate() {
            let [scale, shift, mean, var] = [0, 1, 2, 3].map(|i| f64::from(params[i][o]));
            ensure!(
                var + epsilon > 0.0,
                "channel {o} has variance {var} + epsilon {epsilon} <= 0"
            );
            let s = scale / (var + epsilon).sqrt();
            row.mapv_inplace(|w| (f64::from(w) * s) as f32);
            *bias = ((f64::from(*bias) - mean) * s + shift) as f32;
        }
        self.value = output(node)?;
        Ok(())
    }

    fn activate(&mut self, activation: Activation, out: &'g str) -> Result<()> {
        let Some(p) = &mut self.pending else {
            bail!("{activation} on the image itself; activations follow a layer's weights")
        };
        if let Some(a) = p.activation {
            bail!(
                "a second activation ({activation} after {a}) on the layer of {}",
                p.node
            );
        }
        // max(act(x)) = act(max(x)) for an activation that never decreases, so a MaxPool before
        // ReLU or sigmoid is the model's pooling after them (PyTorch's relu(max_pool(conv))).
        if let Some(pool) = p.pool {
            ensure!(
                pool.kind == PoolKind::Max && activation != Activation::Silu,
                "{activation} after the {} pooling of {}; fs-accel pools activations, and \
                 only a max pooling commutes with an activation that never decreases (ReLU, \
                 sigmoid)",
                match pool.kind {
                    PoolKind::Max => "max",
                    PoolKind::Avg => "average",
                },
                p.node
            );
        }
        p.activation = Some(activation);
        self.value = out;
        Ok(())
    }

    fn sigmoid(&mut self, index: usize, node: &'g NodeProto) -> Result<()> {
        attributes(node, &[])?;
        let x = self.value;
        let s = output(node)?;
        // SiLU as PyTorch exports it: Mul(x, Sigmoid(x)), the sigmoid used by the Mul alone.
        let users: Vec<usize> = (index + 1..self.graph.node.len())
            .filter(|&j| self.graph.node[j].input.iter().any(|i| i == s))
            .collect();
        if let [m] = users[..] {
            let mul = &self.graph.node[m];
            let mut inputs: Vec<&str> = mul.input.iter().map(String::as_str).collect();
            inputs.sort_unstable();
            let mut silu = [x, s];
            silu.sort_unstable();
            if mul.op_type == "Mul" && mul.domain.is_empty() && inputs == silu {
                attributes(mul, &[]).with_context(|| describe_short(mul))?;
                self.taken.insert(m);
                return self.activate(Activation::Silu, output(mul)?);
            }
        }
        self.activate(Activation::Sigmoid, s)
    }

    fn pool(&mut self, node: &'g NodeProto) -> Result<()> {
        let max = node.op_type == "MaxPool";
        let a = attributes(
            node,
            &[
                "auto_pad",
                "ceil_mode",
                "count_include_pad",
                "dilations",
                "kernel_shape",
                "pads",
                "storage_order",
                "strides",
            ],
        )?;
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be input X"
        );
        ensure!(
            node.output.iter().skip(1).all(|o| o.is_empty())
                || !self
                    .graph
                    .node
                    .iter()
                    .any(|n| n.input.iter().any(|i| Some(i) == node.output.get(1))),
            "the indices of the maximum (second output) are used; they are not supported"
        );
        ensure_all_one(a.ints("dilations")?, "dilations", "dilated pooling")?;
        ensure!(
            a.int("storage_order")?.unwrap_or(0) == 0,
            "storage_order = 1 is not supported"
        );
        let window = match a.ints("kernel_shape")? {
            Some(&[h, w]) if h == w && h >= 1 => h as usize,
            k => bail!("kernel_shape {k:?}; only square windows [k, k] are supported"),
        };
        let stride = square(a.ints("strides")?, "strides", 1)?;
        ensure!(
            padding(&a, &node.op_type)? == 0,
            "a padded pooling is not supported (the window must lie within the maps)"
        );
        let kind = if max { PoolKind::Max } else { PoolKind::Avg };
        self.attach_pool(
            Pool {
                kind,
                window,
                stride,
            },
            a.int("ceil_mode")?.unwrap_or(0) != 0,
        )?;
        self.value = output(node)?;
        Ok(())
    }

    fn global_average_pool(&mut self, node: &'g NodeProto) -> Result<()> {
        attributes(node, &[])?;
        let Flow::Maps(s) = self.flow else {
            bail!("a GlobalAveragePool of {}", self.flow)
        };
        ensure!(
            s.height == s.width,
            "a global average of {}x{} maps; only square maps pool to one window",
            s.height,
            s.width
        );
        self.attach_pool(
            Pool {
                kind: PoolKind::Avg,
                window: s.height,
                stride: s.height,
            },
            false,
        )?;
        self.value = output(node)?;
        Ok(())
    }

    fn attach_pool(&mut self, pool: Pool, ceil_mode: bool) -> Result<()> {
        let Flow::Maps(maps) = self.flow else {
            bail!("pooling of {}", self.flow)
        };
        let Some(p) = &mut self.pending else {
            bail!("pooling of the image itself; fs-accel pools a layer's activations")
        };
        ensure!(
            p.pool.is_none(),
            "a second pooling on the layer of {}",
            p.node
        );
        ensure!(
            p.activation.is_some() || pool.kind == PoolKind::Max,
            "average pooling before the activation of {}; fs-accel pools activations",
            p.node
        );
        let pooled = pool.output(maps)?;
        // ceil_mode adds a partial window at the edge unless the windows tile the map exactly.
        let fits = |n: usize| (n - pool.window) % pool.stride == 0;
        ensure!(
            !ceil_mode || (fits(maps.height) && fits(maps.width)),
            "ceil_mode = 1 with windows that do not tile the {}x{} maps (partial windows are \
             not supported)",
            maps.height,
            maps.width
        );
        p.pool = Some(pool);
        self.flow = Flow::Maps(pooled);
        Ok(())
    }

    fn flatten(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["axis"])?;
        let rank = self.flow.dims().len() as i64;
        let axis = a.int("axis")?.unwrap_or(1);
        ensure!(
            axis == 1 || axis == 1 - rank,
            "Flatten with axis = {axis}; only axis 1 (keep the batch, flatten the rest) is \
             supported"
        );
        self.flow = self.flow.flattened();
        self.pass(node)
    }

    /// tf2onnx's layout changes around convolutions: channel-last to channel-first and back.
    fn transpose(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["perm"])?;
        let perm = a.ints("perm")?.unwrap_or(&[]);
        self.flow = match (self.flow, perm) {
            (Flow::ChannelLast(s), [0, 3, 1, 2]) => Flow::Maps(s),
            (Flow::Maps(s), [0, 2, 3, 1]) => Flow::ChannelLast(s),
            (flow, _) => bail!(
                "a Transpose with perm {perm:?} of {flow}; only the changes between channel-last \
                 and channel-first maps ([0, 3, 1, 2] and [0, 2, 3, 1]) are supported"
            ),
        };
        self.pass(node)
    }

    fn reshape(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["allowzero"])?;
        let allowzero = a.int("allowzero")?.unwrap_or(0) != 0;
        ensure!(
            node.input.first().is_some_and(|i| i == self.value),
            "the activations must be input data"
        );
        let shape = match self.constant_input(node, 1, "the shape")? {
            Constant::Int(s) => s.iter().copied().collect::<Vec<i64>>(),
            Constant::Float(_) => bail!("the shape (input 1) holds floats"),
        };
        let current = self.flow.dims();
        let size = self.flow.size();
        // Resolve 0 (copy the dimension) and -1 (what is left), taking the batch as 1.
        let mut dims = Vec::with_capacity(shape.len());
        for (i, &d) in shape.iter().enumerate() {
            dims.push(match d {
                0 if !allowzero => *current
                    .get(i)
                    .ok_or_else(|| anyhow!("shape {shape:?}: dimension {i} copies nothing"))?
                    as i64,
                _ => d,
            });
        }
        let known: i64 = dims.iter().filter(|&&d| d != -1).product();
        let holes = dims.iter().filter(|&&d| d == -1).count();
        ensure!(
            holes <= 1 && dims.iter().all(|&d| d >= -1),
            "shape {shape:?} is not a valid reshape"
        );
        if holes == 1 {
            ensure!(
                known > 0 && size as i64 % known == 0,
                "shape {shape:?} does not divide {size} values"
            );
            let hole = dims.iter().position(|&d| d == -1).unwrap_or(0);
            dims[hole] = size as i64 / known;
        }
        let total: i64 = dims.iter().product();
        ensure!(
            total == size as i64 && dims.first() == Some(&1),
            "shape {shape:?} turns {current:?} into {dims:?}; only a reshape that keeps the batch \
             and the values is supported"
        );
        self.flow = match dims[1..] {
            [_] => self.flow.flattened(),
            [a, b, c] if self.layers.is_empty() && self.pending.is_none() => {
                let image = self.input.shape();
                let dims = [a, b, c].map(|d| d as usize);
                if dims == [image.channels, image.height, image.width] {
                    Flow::Maps(image)
                } else if dims == [image.height, image.width, image.channels] {
                    Flow::ChannelLast(image)
                } else {
                    bail!(
                        "reshapes the image to {dims:?}, but the images are {}x{}x{}",
                        image.channels,
                        image.height,
                        image.width
                    )
                }
            }
            _ => bail!(
                "shape {shape:?} turns {current:?} into {dims:?}; only the flatten to [batch, \
                 features] (and the image to [batch, channels, height, width]) is supported"
            ),
        };
        self.pass(node)
    }

    fn softmax(&mut self, node: &'g NodeProto) -> Result<()> {
        let a = attributes(node, &["axis"])?;
        let axis = a.int("axis")?.unwrap_or(-1);
        ensure!(
            matches!(self.flow, Flow::Flat(_)) && (axis == 1 || axis == -1),
            "a {} over axis {axis} of {:?}; only the final one over the classes is dropped",
            node.op_type,
            self.flow.dims()
        );
        self.ended = Some(describe_short(node));
        self.pass(node)
    }

    /// A node that hands its input on unchanged.
    fn pass(&mut self, node: &'g NodeProto) -> Result<()> {
        self.value = output(node)?;
        Ok(())
    }

    fn finish(mut self) -> Result<Ann> {
        let outputs = &self.graph.output;
        ensure!(
            outputs.len() == 1,
            "the graph has {} outputs; an fs-accel network has one (its logits)",
            outputs.len()
        );
        ensure!(
            outputs[0].name == self.value,
            "the graph's output {:?} is not the end of the layer chain ({:?})",
            outputs[0].name,
            self.value
        );
        ensure!(
            self.pending.is_some(),
            "the graph has no layer with weights (Gemm, MatMul or Conv)"
        );
        self.close_layer(None)?;
        let ann = Ann {
            input: self.input,
            layers: self.layers,
        };
        ann.validate()
            .context("the imported layers do not form a network fs-accel runs")?;
        Ok(ann)
    }
}

/// What the image input carries, checked against the data set's images.
fn image_flow(image: &onnx_protobuf::ValueInfoProto, input: &InputEncoding) -> Result<Flow> {
    let maps = input.shape();
    let Some(onnx_protobuf::type_proto::Value::TensorType(t)) =
        image.type_.as_ref().and_then(|t| t.value.as_ref())
    else {
        // No type given: take the images as they are.
        return Ok(Flow::Maps(maps));
    };
    let float = [0, DataType::FLOAT as i32, DataType::DOUBLE as i32];
    ensure!(
        float.contains(&t.elem_type),
        "element type {}: fs-accel imports float networks (not quantised ones)",
        type_name(t.elem_type)
    );
    let Some(shape) = t.shape.as_ref() else {
        return Ok(Flow::Maps(maps));
    };
    let mut dims = Vec::new();
    for (i, d) in shape.dim.iter().enumerate() {
        match &d.value {
            Some(dimension::Value::DimValue(v)) if *v >= 1 => dims.push(*v as usize),
            // The batch may be symbolic or any size.
            _ if i == 0 => dims.push(1),
            other => bail!("dimension {i} is {other:?}; only the batch may be symbolic"),
        }
    }
    let expected = format!(
        "the images are {}x{}x{} ({} values)",
        input.channels,
        input.height,
        input.width,
        input.size()
    );
    match dims[..] {
        [_, n] if n == input.size() => Ok(Flow::Flat(n)),
        [_, h, w] if input.channels == 1 && [h, w] == [input.height, input.width] => {
            Ok(Flow::Maps(maps))
        }
        [_, c, h, w] if [c, h, w] == [input.channels, input.height, input.width] => {
            Ok(Flow::Maps(maps))
        }
        [_, h, w, c] if [h, w, c] == [input.height, input.width, input.channels] => {
            Ok(Flow::ChannelLast(maps))
        }
        _ => bail!("shape {dims:?} does not take the data set's images: {expected}"),
    }
}

/// Decodes a tensor, checking that its data fill its shape.
fn constant(t: &TensorProto) -> Result<Constant> {
    ensure!(
        t.data_location.value() != DataLocation::EXTERNAL as i32 && t.external_data.is_empty(),
        "its data are in an external file; save the model in one file \
         (onnx.save(model, path, save_as_external_data=False))"
    );
    ensure!(t.segment.is_none(), "a segmented tensor is not supported");
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut count = 1usize;
    for &d in &t.dims {
        ensure!(d >= 0, "shape {:?} has a negative dimension", t.dims);
        count = count
            .checked_mul(d as usize)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| anyhow!("shape {:?} holds more than {MAX_ELEMENTS} elements", t.dims))?;
        dims.push(d as usize);
    }
    let raw = &t.raw_data;
    let c = match DataType::from_i32(t.data_type) {
        Some(DataType::FLOAT) => Constant::Float(array(
            &dims,
            if raw.is_empty() {
                t.float_data.clone()
            } else {
                le_words::<4>(raw, count)?.map(f32::from_le_bytes).collect()
            },
        )?),
        Some(DataType::DOUBLE) => Constant::Float(array(
            &dims,
            if raw.is_empty() {
                t.double_data.iter().map(|&v| v as f32).collect()
            } else {
                le_words::<8>(raw, count)?
                    .map(|b| f64::from_le_bytes(b) as f32)
                    .collect()
            },
        )?),
        Some(DataType::INT64) => Constant::Int(array(
            &dims,
            if raw.is_empty() {
                t.int64_data.clone()
            } else {
                le_words::<8>(raw, count)?.map(i64::from_le_bytes).collect()
            },
        )?),
        Some(DataType::INT32) => Constant::Int(array(
            &dims,
            if raw.is_empty() {
                t.int32_data.iter().map(|&v| i64::from(v)).collect()
            } else {
                le_words::<4>(raw, count)?
                    .map(|b| i64::from(i32::from_le_bytes(b)))
                    .collect()
            },
        )?),
        _ => bail!(
            "element type {}: fs-accel imports float32 and float64 weights (and int32 or int64 \
             shapes)",
            type_name(t.data_type)
        ),
    };
    Ok(c)
}

/// `raw` as `count` little-endian words of `N` bytes.
fn le_words<const N: usize>(
    raw: &[u8],
    count: usize,
) -> Result<impl Iterator<Item = [u8; N]> + '_> {
    ensure!(
        raw.len() == count * N,
        "its shape holds {count} elements but its raw data are {} bytes (not {})",
        raw.len(),
        count * N
    );
    Ok(raw
        .chunks_exact(N)
        .map(|c| <[u8; N]>::try_from(c).unwrap_or([0; N])))
}

fn array<T>(dims: &[usize], values: Vec<T>) -> Result<ArrayD<T>> {
    let count: usize = dims.iter().product();
    ensure!(
        values.len() == count,
        "its shape {dims:?} holds {count} elements but it has {} values",
        values.len()
    );
    Ok(ArrayD::from_shape_vec(IxDyn(dims), values)?)
}

fn type_name(data_type: i32) -> String {
    DataType::from_i32(data_type).map_or_else(|| format!("{data_type}"), |t| format!("{t:?}"))
}

fn matrix(a: &ArrayD<f32>, what: &str) -> Result<Array2<f32>> {
    a.clone()
        .into_dimensionality::<Ix2>()
        .map_err(|_| anyhow!("{what} has shape {:?}, not a matrix", a.shape()))
}

/// A 1-D tensor of `n` values (a bias, a batch normalisation's parameters).
fn vector(a: &ArrayD<f32>, n: usize, what: &str) -> Result<Array1<f32>> {
    ensure!(
        a.shape() == [n],
        "{what} has shape {:?}, [{n}] expected",
        a.shape()
    );
    Ok(Array1::from_iter(a.iter().copied()))
}

/// A constant added to values of shape `dims` (`[batch, channels, ...]`), with ONNX's
/// broadcasting (right-aligned), as one value per channel; refused when it varies along
/// any other axis.
fn per_channel(a: &ArrayD<f32>, dims: &[usize]) -> Result<Array1<f32>> {
    let shape = a.shape();
    let offset = dims.len().checked_sub(shape.len());
    let fits = offset.is_some_and(|offset| {
        shape
            .iter()
            .enumerate()
            .all(|(i, &d)| d == 1 || (offset + i == 1 && d == dims[1]))
    });
    ensure!(
        fits,
        "a constant of shape {shape:?} added to values of shape {dims:?} is not one value per \
         output (a bias)"
    );
    Ok(match a.iter().next() {
        Some(&v) if a.len() == 1 => Array1::from_elem(dims[1], v),
        _ => Array1::from_iter(a.iter().copied()),
    })
}

/// The single value of a `[v, v]` attribute (`default` when absent).
fn square(values: Option<&[i64]>, name: &str, default: usize) -> Result<usize> {
    match values {
        None => Ok(default),
        Some(&[a, b]) if a == b && a >= 1 => Ok(a as usize),
        Some(v) => bail!("{name} = {v:?}; only equal values >= 1 in both directions are supported"),
    }
}

fn ensure_all_one(values: Option<&[i64]>, name: &str, what: &str) -> Result<()> {
    if let Some(v) = values {
        ensure!(
            v.iter().all(|&d| d == 1),
            "{name} = {v:?} ({what}) is not supported"
        );
    }
    Ok(())
}

/// A convolution's or pooling's padding: the same on every side; `auto_pad` only as `NOTSET`
/// or `VALID`.
fn padding(a: &Attributes, op: &str) -> Result<usize> {
    match a.string("auto_pad")?.as_deref() {
        None | Some("NOTSET") => {}
        Some("VALID") => return Ok(0),
        Some(p) => {
            bail!("{op} with auto_pad = {p}; export with explicit pads (padding=k//2 in PyTorch)")
        }
    }
    match a.ints("pads")? {
        None => Ok(0),
        Some(p) if p.len() == 4 && p.iter().all(|&v| v == p[0] && v >= 0) => Ok(p[0] as usize),
        Some(p) => bail!("pads = {p:?}; only the same padding on every side is supported"),
    }
}

/// A node's attributes, refused when the importer does not handle their name.
struct Attributes<'n> {
    node: &'n NodeProto,
}

fn attributes<'n>(node: &'n NodeProto, known: &[&str]) -> Result<Attributes<'n>> {
    for a in &node.attribute {
        ensure!(
            known.contains(&a.name.as_str()),
            "attribute {:?} of {} is not supported{}",
            a.name,
            node.op_type,
            if known.is_empty() {
                String::new()
            } else {
                format!(" (the importer handles {})", known.join(", "))
            }
        );
    }
    Ok(Attributes { node })
}

impl<'n> Attributes<'n> {
    fn get(&self, name: &str, kind: AttributeType) -> Result<Option<&'n AttributeProto>> {
        let Some(a) = self.node.attribute.iter().find(|a| a.name == name) else {
            return Ok(None);
        };
        ensure!(
            a.type_.value() == kind as i32,
            "attribute {name:?} has type {:?}, {kind:?} expected",
            a.type_
        );
        Ok(Some(a))
    }

    fn int(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.get(name, AttributeType::INT)?.map(|a| a.i))
    }

    fn ints(&self, name: &str) -> Result<Option<&'n [i64]>> {
        Ok(self.get(name, AttributeType::INTS)?.map(|a| &a.ints[..]))
    }

    fn float(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.get(name, AttributeType::FLOAT)?.map(|a| a.f))
    }

    fn floats(&self, name: &str) -> Result<Option<&'n [f32]>> {
        Ok(self
            .get(name, AttributeType::FLOATS)?
            .map(|a| &a.floats[..]))
    }

    fn string(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .get(name, AttributeType::STRING)?
            .map(|a| String::from_utf8_lossy(&a.s).into_owned()))
    }

    fn tensor(&self, name: &str) -> Result<Option<&'n TensorProto>> {
        match self.get(name, AttributeType::TENSOR)? {
            Some(a) => {
                Ok(Some(a.t.as_ref().ok_or_else(|| {
                    anyhow!("attribute {name:?} has no tensor")
                })?))
            }
            None => Ok(None),
        }
    }
}

fn output(node: &NodeProto) -> Result<&str> {
    node.output
        .first()
        .filter(|o| !o.is_empty())
        .map(String::as_str)
        .ok_or_else(|| anyhow!("{} has no output", describe_short(node)))
}

/// `node 3 of 9 "/fc1/Gemm" (Gemm)`: where a node is, for messages.
fn describe(index: usize, count: usize, node: &NodeProto) -> String {
    format!("node {index} of {count}, {}", describe_short(node))
}

fn describe_short(node: &NodeProto) -> String {
    if node.name.is_empty() {
        let out = node.output.first().map_or("", String::as_str);
        format!("{} (unnamed, output {out:?})", node.op_type)
    } else {
        format!("{:?} ({})", node.name, node.op_type)
    }
}
