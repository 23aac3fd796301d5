//! The commands of `fpga-host`.

mod boards;
mod convert;
mod eval;
mod fit;
mod import;
mod infer;
mod plan;
mod ports;
mod report;
mod selftest;
mod serve;
mod train;
mod verify;
mod verilog;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use fs_model::data::{self, DatasetKind, Split};
use fs_model::network::InputEncoding;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Command {
    /// Train an MLP or a CNN on a data set and convert it to an FS-SNN model file.
    Train(train::TrainArgs),
    /// Import a network trained elsewhere (an ONNX graph, or .npz weight arrays) and convert it.
    Import(import::ImportArgs),
    /// Re-convert the ANN inside a model file with other conversion settings.
    Convert(convert::ConvertCmdArgs),
    /// Evaluate a model: ANN, FS float and FS fixed-point accuracy, spikes, operations.
    Eval(eval::EvalArgs),
    /// Write one self-contained HTML page of a model: FS against rate coding and AMOS, spikes,
    /// a spike raster, the confusion matrix, synthesis results.
    Report(report::ReportArgs),
    /// Fit FS-neuron parameters T, h, d for an activation.
    FitNeuron(fit::FitArgs),
    /// Run test images through a simulation of the RTL and compare every spike with the golden model.
    Verify(verify::VerifyArgs),
    /// Plan a design before synthesis: block RAMs, LUTs, cycles per image, images/s on a
    /// target, and the lanes that fit it best (`--lanes auto`).
    Plan(plan::PlanArgs),
    /// Write the accelerator's Verilog for a model.
    Verilog(verilog::VerilogArgs),
    /// Classify test images on a board (serial port) or the simulated device, checked
    /// against the golden model.
    Infer(infer::InferArgs),
    /// Check a freshly programmed board: link, design and model, link test, known images;
    /// every failure says what it means and what to try.
    Selftest(selftest::SelftestArgs),
    /// Run the simulated device on a pseudo-terminal and print its path, for any host to open
    /// like a board's serial port.
    Serve(serve::ServeArgs),
    /// List serial ports.
    Ports,
    /// List the boards with an open flow: part, clock, baud rate, model, lanes, pin file.
    Boards(boards::BoardsArgs),
}

impl Command {
    pub fn run(self) -> Result<()> {
        match self {
            Command::Train(a) => train::run(a),
            Command::Import(a) => import::run(a),
            Command::Convert(a) => convert::run(a),
            Command::Eval(a) => eval::run(a),
            Command::Report(a) => report::run(a),
            Command::FitNeuron(a) => fit::run(a),
            Command::Verify(a) => verify::run(a),
            Command::Plan(a) => plan::run(a),
            Command::Verilog(a) => verilog::run(a),
            Command::Infer(a) => infer::run(a),
            Command::Selftest(a) => selftest::run(a),
            Command::Serve(a) => serve::run(a),
            Command::Ports => ports::run(),
            Command::Boards(a) => boards::run(a),
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// The generated Verilog compiled by Verilator (fast; needs verilator and a C++ compiler).
    Verilator,
    /// RustHDL's own simulation (slow: seconds per MNIST image).
    Rusthdl,
    /// A board's bitstream read back as a netlist (`--board`; on ECP5 its netlist after
    /// synthesis) under Verilator, talked to through its UART pins: what the board itself
    /// runs. Needs fpga-icestorm, yosys (its cell models) and verilator.
    Netlist,
}

/// The board whose bitstream `--engine netlist` reads back, and that bitstream (iCE40) or
/// its netlist after synthesis (ECP5).
pub struct NetlistSource {
    pub board: &'static fs_boards::Board,
    pub bitstream: PathBuf,
}

impl NetlistSource {
    /// `board` (by name) and `bitstream`, by default the committed bitstream of an iCE40
    /// board, the synthesised netlist `scripts/build-bitstreams` leaves in
    /// `build/boards/BOARD/top.json` for an ECP5 board.
    pub fn new(board: &str, bitstream: Option<PathBuf>) -> Result<Self> {
        let board = fs_boards::by_name(board)?;
        // An ECP5 bitstream cannot be read back as logic: its netlist after synthesis is what
        // scripts/build-bitstreams hands to nextpnr.
        let bitstream = bitstream.unwrap_or_else(|| match board.part.family {
            fs_hdl::fpga::Family::Ecp5 => PathBuf::from("build/boards")
                .join(board.name)
                .join("top.json"),
            _ => PathBuf::from("bitstreams")
                .join(board.name)
                .join("fs_accel.bin"),
        });
        Ok(NetlistSource { board, bitstream })
    }
}

/// Starts the simulated device of `model` built with `config` on a pseudo-terminal, under
/// `engine` (Verilator builds cached in `build_dir`; `announce` says so on stderr first).
/// The netlist engine runs `netlist`'s bitstream instead (built for its board's model and
/// lanes; a host loads `model` into it if it is another model of the same design).
pub fn start_simulated(
    model: &fs_model::network::Model,
    config: &fs_hdl::core::accelerator::HwConfig,
    engine: Engine,
    netlist: Option<&NetlistSource>,
    build_dir: &std::path::Path,
    announce: bool,
) -> Result<crate::pty_device::PtyDevice> {
    use crate::pty_device::PtyDevice;
    match engine {
        Engine::Netlist => {
            let source = netlist.context(
                "--engine netlist reads a board's bitstream back: name the board with --board \
                 (`fpga-host boards` lists them)",
            )?;
            if announce {
                eprintln!(
                    "reading {} back as a netlist and building it with Verilator in {} ...",
                    source.bitstream.display(),
                    build_dir.display()
                );
            }
            PtyDevice::start_netlist(source.board, &source.bitstream, build_dir)
        }
        Engine::Rusthdl => PtyDevice::start(model, config),
        Engine::Verilator => {
            if announce {
                eprintln!(
                    "building the device with Verilator in {} ...",
                    build_dir.display()
                );
            }
            PtyDevice::start_verilator(model, config, build_dir)
        }
    }
}

/// Which data set, and where the data folder is.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Data set: mnist or digits (default: the one whose images the model takes, else mnist).
    #[arg(long)]
    pub dataset: Option<DatasetKind>,
    /// Folder holding mnist/ and digits/ (default: $FS_ACCEL_DATA, ./data, or the repository's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The data set asked for, or MNIST.
    pub fn kind(&self) -> DatasetKind {
        self.dataset.unwrap_or(DatasetKind::Mnist)
    }

    /// The data set asked for, or MNIST.
    pub fn load(&self) -> Result<Split> {
        self.load_kind(self.kind())
    }

    /// The data set asked for, or the one whose images `input` takes (the 8x8 digits for a
    /// digits network), or MNIST; its pixels rescaled to the input's range when that is
    /// narrower (a model made with `--input-bits`).
    pub fn load_for(&self, input: &InputEncoding) -> Result<Split> {
        let fits = DatasetKind::ALL
            .into_iter()
            .find(|kind| kind.input_size() == input.size());
        let split = self.load_kind(self.dataset.or(fits).unwrap_or(DatasetKind::Mnist))?;
        if input.max_value >= split.train.max_value {
            return Ok(split);
        }
        split.rescaled(input.max_value)
    }

    fn load_kind(&self, kind: DatasetKind) -> Result<Split> {
        let dir = self.data_dir.clone().unwrap_or_else(data::default_data_dir);
        data::load(kind, &dir).with_context(|| format!("loading the {kind} data set"))
    }
}

/// One entry of `--lanes`: a number, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaneCount {
    Auto,
    Lanes(usize),
}

impl std::str::FromStr for LaneCount {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(LaneCount::Auto),
            n => n
                .parse()
                .map(LaneCount::Lanes)
                .map_err(|_| format!("{n:?} is neither a number of lanes nor `auto`")),
        }
    }
}

/// How the accelerator is built: lanes (processing elements) per layer.
#[derive(Args, Clone)]
pub struct HwArgs {
    /// Lanes per layer: one number for every layer (capped at each layer's width), one per
    /// layer (16,10), or `auto`: the lanes that fit --target with the most images per second
    /// (`fpga-host plan`).
    #[arg(long, value_delimiter = ',', default_value = "16")]
    pub lanes: Vec<LaneCount>,
    /// The target `--lanes auto` plans for (`fpga-host plan --help` lists them).
    #[arg(long)]
    pub target: Option<String>,
    /// Events each spike-bus FIFO holds.
    #[arg(long, default_value_t = fs_hdl::core::accelerator::DEFAULT_FIFO_DEPTH)]
    pub fifo_depth: usize,
}

impl HwArgs {
    /// Fixed lanes, one number or one per layer.
    pub fn fixed(lanes: &[usize]) -> Self {
        HwArgs {
            lanes: lanes.iter().map(|&n| LaneCount::Lanes(n)).collect(),
            target: None,
            fifo_depth: fs_hdl::core::accelerator::DEFAULT_FIFO_DEPTH,
        }
    }

    pub fn config(
        &self,
        model: &fs_model::network::Model,
    ) -> Result<fs_hdl::core::accelerator::HwConfig> {
        use fs_hdl::core::accelerator::HwConfig;
        let numbers: Option<Vec<usize>> = self
            .lanes
            .iter()
            .map(|l| match l {
                LaneCount::Lanes(n) => Some(*n),
                LaneCount::Auto => None,
            })
            .collect();
        let mut config = match (numbers.as_deref(), self.lanes.as_slice()) {
            (None, [LaneCount::Auto]) => return self.auto(model),
            (None, _) => anyhow::bail!("--lanes auto stands alone (no numbers beside it)"),
            (Some([n]), _) => HwConfig::uniform(model, *n),
            (Some(per_layer), _) if per_layer.len() == model.layers.len() => {
                HwConfig::new(per_layer.to_vec())
            }
            (Some(other), _) => anyhow::bail!(
                "--lanes takes one number or one per layer ({} layers), got {other:?}",
                model.layers.len()
            ),
        };
        config.fifo_depth = self.fifo_depth;
        Ok(config)
    }

    /// `--lanes auto`: the plan's choice for --target, on the model's test images.
    fn auto(
        &self,
        model: &fs_model::network::Model,
    ) -> Result<fs_hdl::core::accelerator::HwConfig> {
        let name = self
            .target
            .as_deref()
            .context("--lanes auto plans for a target: give --target (ice40-up5k, ice40-hx8k, ecp5-25k or ecp5-85k)")?;
        let target = fs_hdl::resources::target(name)?;
        let data = DataArgs {
            dataset: None,
            data_dir: None,
        }
        .load_for(model.input())?;
        let traffic = crate::plan::traffic(model, &data.test, crate::plan::TRAFFIC_IMAGES);
        let plan = crate::plan::auto_lanes(model, target, &traffic, self.fifo_depth)?;
        eprintln!(
            "--lanes auto for {}: {:?} ({:.0} images/s, {} block RAMs, about {} LUTs)",
            target.name,
            plan.lanes,
            plan.images_per_second,
            plan.resources.block_rams,
            plan.resources.luts
        );
        let mut config = fs_hdl::core::accelerator::HwConfig::new(plan.lanes);
        config.fifo_depth = self.fifo_depth;
        Ok(config)
    }
}

/// Writes a serialisable value as one JSON object on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
