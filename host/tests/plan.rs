//! `fpga-host plan` against the `scripts/synth` reports its LUT model is fitted to: every
//! measured design's block RAMs exactly, LUTs within 15%, cycles per image within 5%, and
//! `--lanes auto` choosing designs that fit.

use fpga_host::plan::{auto_lanes, plan, traffic};
use fs_hdl::core::accelerator::HwConfig;
use fs_hdl::resources::{measured, target};
use fs_model::data::DatasetKind;
use fs_testkit::shipped;

/// The test split a shipped model classifies, at the model's input range.
fn data_of(name: &str, model: &fs_model::network::Model) -> fs_model::data::Dataset {
    let kind = if name.starts_with("digits") {
        DatasetKind::Digits
    } else {
        DatasetKind::Mnist
    };
    let test = shipped::split(kind).test;
    test.rescaled(model.input().max_value).unwrap()
}

#[test]
fn plans_match_every_measured_synthesis_report() {
    let mut rows = Vec::new();
    for m in measured() {
        let model = shipped::model(&m.model);
        let t = target(&m.target).unwrap();
        // scripts/synth counted the cycles on the first `m.images` test images (SYNTH_IMAGES).
        let traffic = traffic(&model, &data_of(&m.model, &model), m.images);
        let p = plan(&model, &HwConfig::new(m.lanes.clone()), t, &traffic).unwrap();
        let lut_error = p.resources.luts as f64 / m.luts as f64 - 1.0;
        let cycle_error = p.cycles_per_image / m.cycles_per_image - 1.0;
        rows.push(format!(
            "{} {} {:?}: block RAMs {} / {}, LUTs {} / {} ({:+.1}%), cycles {:.1} / {:.1} ({:+.1}%)",
            m.target,
            m.model,
            m.lanes,
            p.resources.block_rams,
            m.block_rams,
            p.resources.luts,
            m.luts,
            lut_error * 100.0,
            p.cycles_per_image,
            m.cycles_per_image,
            cycle_error * 100.0
        ));
        assert_eq!(
            p.resources.block_rams,
            m.block_rams,
            "{}",
            rows.last().unwrap()
        );
        assert_eq!(p.resources.dsps, m.dsps, "{}", rows.last().unwrap());
        assert_eq!(
            p.resources.lut_ram_luts,
            m.lut_ram_luts,
            "{}",
            rows.last().unwrap()
        );
        assert!(lut_error.abs() <= 0.15, "{}", rows.last().unwrap());
        assert!(cycle_error.abs() <= 0.05, "{}", rows.last().unwrap());
    }
    println!("{}", rows.join("\n"));
}

/// `--lanes auto` picks, for every shipped MLP and target of the measurements, a design whose
/// planned resources fit (with the LUT margin), planned as `plan` plans it; a model that
/// cannot fit is refused by name.
#[test]
fn auto_lanes_fit_their_target() {
    for (model, targets) in [
        (
            "digits-mlp.fsnn",
            &["ice40-up5k", "ice40-hx8k", "ecp5-25k"][..],
        ),
        ("mnist-mlp.fsnn", &["ecp5-85k"][..]),
    ] {
        let m = shipped::model(model);
        let traffic = traffic(&m, &data_of(model, &m), 200);
        for &name in targets {
            let t = target(name).unwrap();
            let p = auto_lanes(&m, t, &traffic, 8).unwrap();
            assert!(p.fits, "{model} on {name}: {p:?}");
            assert!(p.resources.block_rams <= t.block_rams);
            assert!(p.resources.luts as f64 * 1.15 <= t.luts as f64);
            // The search combines layers' memories and cycles computed once per lane count:
            // the same plan as the chosen design's own.
            let direct = plan(&m, &HwConfig::new(p.lanes.clone()), t, &traffic).unwrap();
            assert_eq!(p.resources, direct.resources, "{model} on {name}");
            assert_eq!(p.stage_cycles, direct.stage_cycles, "{model} on {name}");
            assert_eq!(
                p.cycles_per_image, direct.cycles_per_image,
                "{model} on {name}"
            );
        }
    }
    // The MNIST MLP's 200,000 weights do not fit the UP5K's 30 block RAMs.
    let m = shipped::model("mnist-mlp.fsnn");
    let traffic = traffic(&m, &data_of("mnist", &m), 50);
    let e = auto_lanes(&m, target("ice40-up5k").unwrap(), &traffic, 8).unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("no lanes fit the ice40-up5k") && e.contains("block RAMs"),
        "{e}"
    );
}
