//! `fpga-host plan`: what a design takes of a target and how fast it runs, before synthesis.

use super::{DataArgs, HwArgs, LaneCount, print_json};
use crate::plan::{TRAFFIC_IMAGES, auto_lanes, plan, traffic};
use anyhow::Result;
use clap::Args;
use fs_hdl::resources::target;
use fs_model::modelfile;
use std::path::PathBuf;

#[derive(Args)]
pub struct PlanArgs {
    /// Model file.
    #[arg(long)]
    pub model: PathBuf,
    /// ice40-up5k, ice40-hx8k, ecp5-25k or ecp5-85k (the targets of scripts/synth).
    #[arg(long)]
    pub target: String,
    /// Lanes per layer (16,10), or `auto`: the lanes that fit the target with the most
    /// images per second.
    #[arg(long, value_delimiter = ',', default_value = "auto")]
    pub lanes: Vec<LaneCount>,
    /// Events each spike-bus FIFO holds.
    #[arg(long, default_value_t = fs_hdl::core::accelerator::DEFAULT_FIFO_DEPTH)]
    pub fifo_depth: usize,
    #[command(flatten)]
    pub data: DataArgs,
    /// Test images whose spikes the cycle model takes.
    #[arg(long, default_value_t = TRAFFIC_IMAGES)]
    pub count: usize,
    /// Print one JSON object on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PlanArgs) -> Result<()> {
    let model = modelfile::load(&args.model)?;
    let target = target(&args.target)?;
    let split = args.data.load_for(model.input())?;
    let traffic = traffic(&model, &split.test, args.count);
    let p = if args.lanes == [LaneCount::Auto] {
        auto_lanes(&model, target, &traffic, args.fifo_depth)?
    } else {
        let hw = HwArgs {
            lanes: args.lanes.clone(),
            target: None,
            fifo_depth: args.fifo_depth,
        };
        plan(&model, &hw.config(&model)?, target, &traffic)?
    };
    if args.json {
        return print_json(&p);
    }
    let r = &p.resources;
    println!(
        "{} on {} ({} test images' spikes), lanes {:?}{}",
        args.model.display(),
        p.target,
        traffic.images.len(),
        p.lanes,
        if args.lanes == [LaneCount::Auto] {
            " (auto)"
        } else {
            ""
        }
    );
    println!(
        "  block RAMs       {} of {} (input and link {}, layers {:?})",
        r.block_rams,
        target.block_rams,
        r.block_rams_by_layer[0],
        &r.block_rams_by_layer[1..]
    );
    println!(
        "  LUTs             about {} of {} (logic {}, LUT RAM {})",
        r.luts, target.luts, r.logic_luts, r.lut_ram_luts
    );
    println!("  DSPs             {} of {}", r.dsps, target.dsps);
    println!(
        "  cycles per image {:.0} (stages {:?})",
        p.cycles_per_image,
        p.stage_cycles.iter().map(|c| c.round()).collect::<Vec<_>>()
    );
    println!(
        "  at {} MHz        {:.0} images/s, latency {:.1} us",
        p.clock_mhz, p.images_per_second, p.latency_us
    );
    if p.fits {
        println!("  fits the {}", p.target);
    } else {
        println!("  does not fit: {}", p.over.join("; "));
    }
    Ok(())
}
