//! The commands of `fpga-host`.

mod convert;
mod eval;
mod fit;
mod import;
mod train;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use fs_model::data::{self, DatasetKind, Split};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Command {
    /// Train an MLP on a data set and convert it to an FS-SNN model file.
    Train(train::TrainArgs),
    /// Import dense weights from a NumPy .npz (PyTorch/Keras) and convert them.
    Import(import::ImportArgs),
    /// Re-convert the ANN inside a model file with other conversion settings.
    Convert(convert::ConvertCmdArgs),
    /// Evaluate a model: ANN, FS float and FS fixed-point accuracy, spikes, operations.
    Eval(eval::EvalArgs),
    /// Fit FS-neuron parameters T, h, d for an activation.
    FitNeuron(fit::FitArgs),
}

impl Command {
    pub fn run(self) -> Result<()> {
        match self {
            Command::Train(a) => train::run(a),
            Command::Import(a) => import::run(a),
            Command::Convert(a) => convert::run(a),
            Command::Eval(a) => eval::run(a),
            Command::FitNeuron(a) => fit::run(a),
        }
    }
}

/// Which data set, and where the data folder is.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Data set: mnist or digits.
    #[arg(long, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Folder holding mnist/ and digits/ (default: $FS_ACCEL_DATA, ./data, or the repository's).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    pub fn load(&self) -> Result<Split> {
        let dir = self.data_dir.clone().unwrap_or_else(data::default_data_dir);
        data::load(self.dataset, &dir)
            .with_context(|| format!("loading the {} data set", self.dataset))
    }
}

/// Writes a serialisable value as one JSON object on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
