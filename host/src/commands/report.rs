//! `fpga-host report`: one self-contained HTML page of what a model does.

use super::DataArgs;
use crate::report::{Options, gather, page};
use anyhow::{Context, Result};
use clap::Args;
use fs_model::modelfile;
use std::path::PathBuf;

#[derive(Args)]
pub struct ReportArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// The page to write (HTML with inline SVG: opens from disk, fetches nothing).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate only the first N test images [default: all].
    #[arg(long)]
    pub count: Option<usize>,
    /// K of the FS sweep: the model's ANN converted again at each (its own K is the model).
    #[arg(long, value_delimiter = ',', default_value = "2,3,4,5,6,7,8")]
    pub k: Vec<usize>,
    /// T of the rate-coded baseline.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256")]
    pub rate_steps: Vec<usize>,
    /// No rate-coded baseline.
    #[arg(long)]
    pub no_rate: bool,
    /// The test image whose spikes the raster shows.
    #[arg(long, default_value_t = 0)]
    pub image: usize,
    /// Folders holding synthesis reports (*/report.json).
    #[arg(long, value_delimiter = ',', default_value = "build")]
    pub synthesis: Vec<PathBuf>,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let split = args.data.load_for(model.input())?;
    let options = Options {
        count: args.count.unwrap_or(split.test.len()),
        ks: args.k,
        rate_steps: if args.no_rate {
            Vec::new()
        } else {
            args.rate_steps
        },
        raster_image: args.image,
        synthesis_dirs: args.synthesis,
    };
    let name = args.model.display().to_string();
    let report = gather(&name, &model, &split, &options, &mut |what| {
        eprintln!("{what} ...")
    })?;
    let html = page::render(&report)?;
    std::fs::write(&args.out, html).with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({} test images, {:.1} s)",
        args.out.display(),
        report.eval.images,
        report.seconds
    );
    Ok(())
}
