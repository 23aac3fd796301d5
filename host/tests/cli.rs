//! The `fpga-host` binary end to end: JSON output, and clear errors with a non-zero exit (never
//! a panic) on bad input.

use fs_testkit::root;
use std::path::PathBuf;
use std::process::{Command, Output};

fn fpga_host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fpga-host"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs")
}

/// A command line's arguments, split at spaces.
fn args(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and print one JSON object; returns the object.
fn json_of(args: &[&str]) -> serde_json::Value {
    let o = fpga_host(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Fails unless the command failed cleanly, and returns its error text.
fn fails(args: &[&str]) -> String {
    let o = fpga_host(args);
    let e = stderr(&o);
    assert!(!o.status.success(), "{args:?} succeeded");
    assert!(!e.contains("panicked"), "{args:?} panicked: {e}");
    assert!(e.contains("Error"), "{args:?}: {e}");
    e
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fpga-host-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn eval_json_has_the_promised_fields() {
    let v = json_of(&args(
        "eval --model models/digits-mlp.fsnn --dataset digits --json",
    ));
    for key in [
        "ann_accuracy",
        "fs_float_accuracy",
        "fs_fixed_accuracy",
        "images",
        "spikes_per_neuron",
        "layers",
        "synaptic_ops_per_image",
        "ann_macs_per_image",
        "saturations",
        "confusion",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["images"], 360);
    assert_eq!(v["confusion"].as_array().unwrap().len(), 10);
    let acc = v["fs_fixed_accuracy"].as_f64().unwrap();
    assert!(acc > 0.95, "{acc}");
}

#[test]
fn eval_table_counts_images() {
    let o = fpga_host(&args(
        "eval --model models/mnist-mlp.fsnn --dataset mnist --count 200",
    ));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("200 test images") && out.contains("FS fixed-point accuracy"),
        "{out}"
    );
}

#[test]
fn malformed_and_truncated_model_files_fail_cleanly() {
    let bytes = std::fs::read(root().join("models/digits-mlp.fsnn")).unwrap();
    let truncated = temp("truncated.fsnn");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let e = fails(&[
        "eval",
        "--model",
        truncated.to_str().unwrap(),
        "--dataset",
        "digits",
    ]);
    assert!(
        e.contains("truncated.fsnn") && e.contains("truncated or corrupt"),
        "{e}"
    );

    let garbage = temp("garbage.fsnn");
    std::fs::write(&garbage, b"not a model at all").unwrap();
    fails(&[
        "eval",
        "--model",
        garbage.to_str().unwrap(),
        "--dataset",
        "digits",
    ]);

    let e = fails(&args("eval --model models/none.fsnn --dataset digits"));
    assert!(e.contains("models/none.fsnn"), "{e}");
}

#[test]
fn a_model_and_data_set_that_do_not_match_fail_cleanly() {
    let e = fails(&args(
        "eval --model models/digits-mlp.fsnn --dataset mnist --count 5",
    ));
    assert!(e.contains("do not match"), "{e}");
}

#[test]
fn a_missing_data_folder_is_named() {
    let e = fails(&args(
        "eval --model models/digits-mlp.fsnn --dataset digits --data-dir /nonexistent/data",
    ));
    assert!(e.contains("/nonexistent/data"), "{e}");
}

#[test]
fn import_rejects_wrong_shapes() {
    // An .npz with a 5-input first layer for a 64-pixel data set.
    let npz = temp("bad.npz");
    let mut w = ndarray_npy::NpzWriter::new(std::fs::File::create(&npz).unwrap());
    w.add_array("w0", &ndarray::Array2::<f32>::zeros((10, 5)))
        .unwrap();
    w.add_array("b0", &ndarray::Array1::<f32>::zeros(10))
        .unwrap();
    w.finish().unwrap();
    let out = temp("bad.fsnn");
    let e = fails(&[
        "import",
        npz.to_str().unwrap(),
        "--dataset",
        "digits",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        e.contains("layer 0 (dense): takes 5 inputs but receives 64"),
        "{e}"
    );
    assert!(!out.exists());
}

#[test]
fn import_then_eval_reproduces_an_exported_network() {
    // Export the shipped digits ANN as PyTorch would, import it, and compare accuracies.
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
    let npz = temp("digits.npz");
    let mut w = ndarray_npy::NpzWriter::new_compressed(std::fs::File::create(&npz).unwrap());
    for (l, layer) in model.ann.layers.iter().enumerate() {
        w.add_array(format!("w{l}"), &layer.weight).unwrap();
        w.add_array(format!("b{l}"), &layer.bias).unwrap();
    }
    w.finish().unwrap();
    let out = temp("imported.fsnn");
    let o = fpga_host(&[
        "import",
        npz.to_str().unwrap(),
        "--dataset",
        "digits",
        "--k",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let imported = fs_model::modelfile::load(&out).unwrap();
    assert_eq!(imported.ann.layers, model.ann.layers);
    // Same ANN and settings: the same conversion, bit for bit.
    assert_eq!(imported.layers, model.layers);
    assert_eq!(imported.format, model.format);
}

/// An ONNX graph imports from the command line; a refused one names its node, writes nothing,
/// and the flags of `.npz` archives are refused for it.
#[test]
fn import_reads_onnx_graphs_and_names_what_it_refuses() {
    let fixture = |name: &str| format!("model/tests/fixtures/onnx/{name}.onnx");
    let out = temp("onnx.fsnn");
    let out = out.to_str().unwrap();
    let ok = fixture("cnn-maxpool");
    let o = fpga_host(&["import", &ok, "--dataset", "digits", "--out", out]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = fs_model::modelfile::load(std::path::Path::new(out)).unwrap();
    assert_eq!(model.ann.widths(), vec![64, 384, 10]);
    let refused = temp("refused.fsnn");
    let e = fails(&[
        "import",
        &fixture("refused-op"),
        "--dataset",
        "digits",
        "--out",
        refused.to_str().unwrap(),
    ]);
    assert!(e.contains("\"/act/LeakyRelu\" (LeakyRelu)"), "{e}");
    assert!(!refused.exists());
    let e = fails(&[
        "import",
        &ok,
        "--dataset",
        "digits",
        "--layout",
        "keras",
        "--out",
        out,
    ]);
    assert!(e.contains("--layout is for .npz archives"), "{e}");
}

/// `report` writes one self-contained page with every section, three plots, the codings of
/// the sweep and the baseline, a confusion matrix over the evaluated images, and the synthesis
/// reports it finds.
#[test]
fn report_writes_a_self_contained_page() {
    let synth = temp("synth");
    std::fs::create_dir_all(synth.join("up5k")).unwrap();
    std::fs::write(
        synth.join("up5k/report.json"),
        r#"{"target": "up5k", "model": "digits-mlp.fsnn", "luts": 4321, "fmax_mhz": 31.5}"#,
    )
    .unwrap();
    let out = temp("report.html");
    let o = fpga_host(&[
        "report",
        "--model",
        "models/digits-mlp.fsnn",
        "--count",
        "100",
        "--k",
        "3,6",
        "--rate-steps",
        "16,32",
        "--synthesis",
        synth.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    for section in fpga_host::report::page::SECTIONS {
        assert!(page.contains(&format!(">{section}</h2>")), "no {section}");
    }
    assert_eq!(page.matches("<svg").count(), 3);
    for bad in ["NaN", "inf<", "<script", "<link", "src=", "<img"] {
        assert!(!page.contains(bad), "the page holds {bad:?}");
    }
    for (coding, rows) in [("fs", 2), ("amos", 2), ("rate", 2)] {
        let row = format!("<tr><td class=\"l\">{coding}</td>");
        assert_eq!(page.matches(&row).count(), rows, "{coding}");
    }
    // The confusion matrix counts every evaluated image once.
    let cells: u64 = page
        .split("<td style=\"background:")
        .skip(1)
        .map(|cell| {
            let n = &cell[cell.find('>').unwrap() + 1..cell.find("</td>").unwrap()];
            n.parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(cells, 100);
    assert!(page.contains("<td>up5k</td>") && page.contains("<td>31.5</td>"));
    // No synthesis folder: the page says so instead.
    let o = fpga_host(&[
        "report",
        "--model",
        "models/digits-mlp.fsnn",
        "--count",
        "20",
        "--k",
        "6",
        "--no-rate",
        "--synthesis",
        "/nonexistent",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(page.contains("No synthesis reports found"));
    assert_eq!(page.matches("<tr><td class=\"l\">rate</td>").count(), 0);
}

/// `plan` prints what a design takes; `--lanes auto` gives `verilog` (as `verify` and
/// `scripts/synth`) the lanes the plan picks, and needs a target.
#[test]
fn plan_and_lanes_auto() {
    let v = json_of(&args(
        "plan --model models/digits-mlp.fsnn --target ice40-up5k --lanes 4,2 --count 50 --json",
    ));
    assert_eq!(v["resources"]["block_rams"], 28);
    assert_eq!(v["lanes"], serde_json::json!([4, 2]));
    assert!(v["fits"].as_bool().unwrap());
    let out = temp("auto-verilog");
    let o = fpga_host(&[
        "verilog",
        "--model",
        "models/digits-mlp.fsnn",
        "--lanes",
        "auto",
        "--target",
        "ice40-up5k",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let e = stderr(&o);
    // The first layer's 4 lanes are what the UP5K's block RAMs hold.
    assert!(e.contains("--lanes auto for ice40-up5k: [4, "), "{e}");
    assert!(out.join("fs_accel.v").is_file());
    let e = fails(&args(
        "verilog --model models/digits-mlp.fsnn --lanes auto --out /tmp/fpga-host-no-target",
    ));
    assert!(e.contains("--target"), "{e}");
    let e = fails(&args(
        "plan --model models/digits-mlp.fsnn --target ice40-lp1k --count 10",
    ));
    assert!(
        e.contains("unknown target") && e.contains("ice40-up5k"),
        "{e}"
    );
}

#[test]
fn fit_neuron_reports_errors_and_parameters() {
    let v = json_of(&args(
        "fit-neuron --activation sigmoid --k 6 --range=-6,6 --restarts 2 --iterations 200 --json",
    ));
    let q = &v["quality"];
    assert!(q["max_abs_error"].as_f64().unwrap() > 0.0);
    assert!(q["mse"].as_f64().unwrap() < 0.01, "{v}");
    assert_eq!(v["params"]["T"].as_array().unwrap().len(), 6);
    let e = fails(&args("fit-neuron --activation silu --k 0"));
    assert!(e.contains("K"), "{e}");
}

#[test]
fn verify_runs_the_rtl_against_the_golden_model() {
    let v = json_of(&args(
        "verify --model models/digits-mlp.fsnn --dataset digits --count 12 --lanes 8 --json",
    ));
    assert_eq!(v["images"], 12);
    assert_eq!(v["mismatches"], 0);
    assert!(v["first_mismatch"].is_null());
    assert_eq!(v["rtl_accuracy"], v["fs_fixed_accuracy"]);
    let interval = v["cycles_per_image"].as_f64().unwrap();
    let bound = v["bound_cycles_per_image"].as_f64().unwrap();
    // The cycle model's interval (per image its slowest stage) is close to the measured one.
    assert!(bound > 0.0 && (interval / bound - 1.0).abs() <= 0.05, "{v}");
    assert_eq!(v["stages"].as_array().unwrap().len(), 3);
    let e = fails(&args(
        "verify --model models/digits-mlp.fsnn --dataset digits --lanes 8,8,8",
    ));
    assert!(
        e.contains("--lanes takes one number or one per layer"),
        "{e}"
    );
}

#[test]
fn verilog_writes_a_design_yosys_reads() {
    let out = temp("rtl");
    let o = fpga_host(&[
        "verilog",
        "--model",
        "models/digits-mlp.fsnn",
        "--out",
        out.to_str().unwrap(),
        "--lanes",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let verilog = std::fs::read_to_string(out.join("fs_accel.v")).unwrap();
    assert!(verilog.contains("module top("), "no top module");
    let check = Command::new("yosys")
        .args([
            "-q",
            "-p",
            "read_verilog fs_accel.v; hierarchy -check -top top",
        ])
        .current_dir(&out)
        .output()
        .expect("yosys runs");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}

#[test]
fn infer_on_the_simulated_device_matches_the_golden_model() {
    let r = json_of(&args(
        "infer --device sim --model models/digits-mlp.fsnn --dataset digits --count 20 --lanes 4,2 --check --json",
    ));
    assert_eq!(r["images"], 20);
    assert_eq!(r["classified"], 20);
    assert_eq!(r["mismatches"], 0);
    assert_eq!(r["failed"].as_array().unwrap().len(), 0);
    assert_eq!(r["accuracy"], r["golden_accuracy"]);
    assert!(r["accuracy"].as_f64().unwrap() > 0.8);
    for field in [
        "images_per_second",
        "cycles_per_image",
        "wire_bytes_per_image",
    ] {
        assert!(r[field].as_f64().unwrap() > 0.0, "{field}: {}", r[field]);
    }
    assert_eq!(r["model_loaded"], false);
}

#[test]
fn infer_names_a_missing_port_and_images_that_do_not_fit() {
    let e = fails(&args("infer --port /dev/fs-accel-no-such-port --count 1"));
    assert!(e.contains("/dev/fs-accel-no-such-port"), "{e}");
    // MNIST images into the digits model.
    let e = fails(&args(
        "infer --device sim --model models/digits-mlp.fsnn --dataset mnist --count 1",
    ));
    assert!(e.contains("pixels") || e.contains("input"), "{e}");
}

/// Without the `xem7010` feature (the default build), the XEM7010 commands say how to get it.
#[cfg(not(feature = "xem7010"))]
#[test]
fn the_xem7010_needs_its_feature_and_says_so() {
    let e = fails(&args("infer --device xem7010 --count 1"));
    assert!(e.contains("--features xem7010"), "{e}");
    let out = temp("xem7010");
    let e = fails(&[
        "verilog",
        "--board",
        "xem7010",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(e.contains("--features xem7010"), "{e}");
}

/// The board facts that `scripts/build-bitstreams` builds from: every key it reads, for every
/// board, and the same from `verilog --board B --json` as from `boards --json`.
#[test]
fn board_facts_carry_what_the_build_script_reads() {
    let all = json_of(&args("boards --json"));
    let boards = all.as_array().unwrap();
    assert!(boards.len() >= 3, "{all}");
    for b in boards {
        let name = b["name"].as_str().unwrap();
        for key in ["family", "device", "package"] {
            assert!(
                b["part"][key].as_str().is_some_and(|v| !v.is_empty()),
                "{name}: {key}"
            );
        }
        assert!(b["synth"].as_str().unwrap().contains("-top top"), "{name}");
        assert!(b["clock_mhz"].as_f64().unwrap() > 0.0, "{name}");
        let pins = root().join(b["constraints"].as_str().unwrap());
        assert!(pins.is_file(), "{name}: {}", pins.display());
        let out = temp(&format!("board-{name}"));
        let facts = json_of(&args(&format!(
            "verilog --board {name} --out {} --json",
            out.display()
        )));
        assert_eq!(&facts, b, "{name}");
        assert!(out.join("fs_accel.v").is_file());
    }
    let names = fpga_host(&args("boards"));
    let listed = String::from_utf8_lossy(&names.stdout);
    let first_words: Vec<&str> = listed.lines().filter_map(|l| l.split(' ').next()).collect();
    let expected: Vec<&str> = boards.iter().map(|b| b["name"].as_str().unwrap()).collect();
    assert_eq!(first_words, expected);
}

/// A convolutional model that the golden model runs but the RTL cannot (overlapping max
/// pooling, average pooling before a dense layer): every command that would build hardware for
/// it refuses, naming the layer and the reason.
#[test]
fn hardware_commands_refuse_a_network_the_rtl_cannot_run_by_layer() {
    // A random CNN with overlapping max pooling or average pooling before a dense layer.
    let (model, reason) = (0..)
        .find_map(|seed| {
            let model =
                fs_testkit::random::random_model(seed, &fs_testkit::random::ModelSpec::cnn());
            let e = fs_hdl::core::accelerator::supports(&model).err()?;
            Some((model, e.to_string()))
        })
        .unwrap();
    assert!(reason.starts_with("layer "), "{reason}");
    let path = temp("cnn.fsnn");
    fs_model::modelfile::save(&model, &path).unwrap();
    let file = path.display().to_string();
    let out = temp("cnn-rtl").display().to_string();
    for line in [
        format!("verilog --model {file} --out {out}"),
        format!("verify --model {file} --dataset digits --count 2"),
        format!("infer --device sim --model {file} --dataset digits --count 2"),
    ] {
        let e = fails(&args(&line));
        assert!(e.contains(&reason), "{line}: {e}");
    }
}

/// `serve` runs the simulated device on a terminal whose path it prints; `infer --port` in
/// another process classifies through it like through a board, checked by the golden model.
#[test]
fn infer_through_a_served_device_in_another_process() {
    let served = Served::start("serve --device sim --model models/digits-mlp.fsnn --lanes 2,2");
    let line = format!(
        "infer --port {} --model models/digits-mlp.fsnn --dataset digits --count 12 --check \
         --timeout 60 --json",
        served.1
    );
    let report = json_of(&args(&line));
    assert_eq!(report["classified"], 12, "{report}");
    assert_eq!(report["mismatches"], 0, "{report}");
}

/// A served simulated device, stopped on drop.
struct Served(std::process::Child, String);

impl Served {
    fn start(line: &str) -> Self {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(env!("CARGO_BIN_EXE_fpga-host"))
            .args(args(line))
            .current_dir(root())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut path = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut path)
            .unwrap();
        Served(child, path.trim().to_string())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `selftest` passes on a good device (loading a model of its design when it holds another),
/// and diagnoses silence and a different design with what to try.
#[test]
fn selftest_passes_a_good_device_and_explains_what_is_wrong() {
    let served = Served::start("serve --device sim --model models/digits-mlp.fsnn --lanes 2,2");
    let other = temp("retrained-digits.fsnn");
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
    fs_model::modelfile::save(&fs_testkit::random::retrained(&model, 4), &other).unwrap();
    let check = |model: &str| {
        format!(
            "selftest --port {} --model {model} --dataset digits --count 6 --timeout 30",
            served.1
        )
    };
    for (model, says) in [
        ("models/digits-mlp.fsnn", "model already on the board"),
        (other.to_str().unwrap(), "model loaded"),
    ] {
        let o = fpga_host(&args(&check(model)));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{model}: {}", stderr(&o));
        assert!(
            out.contains(says) && out.contains("ok    known images: 6"),
            "{out}"
        );
    }
    let e = fails(&args(&check("models/mnist-mlp.fsnn")));
    assert!(e.contains("design:") && e.contains("another design"), "{e}");
    // A terminal with nothing behind it.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = serialport::SerialPort::name(&slave).unwrap();
    let e = fails(&args(&format!(
        "selftest --port {path} --model models/digits-mlp.fsnn --dataset digits --timeout 0.2"
    )));
    assert!(
        e.contains("no answer") && e.contains(&format!("{:?}", fs_boards::baud_rates())),
        "{e}"
    );
}

#[test]
fn the_data_set_follows_the_model_unless_named() {
    let out = json_of(&args(
        "eval --model models/digits-mlp.fsnn --count 20 --json",
    ));
    assert_eq!(out["dataset"], "digits", "{out}");
}

#[test]
fn the_netlist_engine_says_what_it_cannot_read_back() {
    let e = fails(&args("infer --device sim --engine netlist --count 1"));
    assert!(e.contains("--board"), "{e}");
    // ECP5: the netlist after synthesis, which scripts/build-bitstreams writes.
    let e = fails(&args(
        "infer --device sim --engine netlist --board ulx3s --bitstream /nonexistent/top.json",
    ));
    assert!(e.contains("--synth-only ulx3s"), "{e}");
    let e = fails(&args(
        "infer --device sim --engine netlist --board nosuchboard",
    ));
    assert!(e.contains("icebreaker"), "{e}");
    let e = fails(&args(
        "infer --device sim --engine verilator --board icebreaker --count 1",
    ));
    assert!(e.contains("--engine netlist"), "{e}");
    let e = fails(&args(
        "infer --device sim --engine netlist --board icebreaker --bitstream /nonexistent.bin",
    ));
    assert!(e.contains("/nonexistent.bin"), "{e}");
    // Bytes that are no bitstream: the read-back tool's complaint, not a simulation of garbage.
    let garbage = temp("garbage.bin");
    std::fs::write(&garbage, [0x55u8; 300]).unwrap();
    let cache = temp("netlist-cache");
    let e = fails(&[
        "infer",
        "--device",
        "sim",
        "--engine",
        "netlist",
        "--board",
        "icebreaker",
        "--bitstream",
        garbage.to_str().unwrap(),
        "--build-dir",
        cache.to_str().unwrap(),
    ]);
    assert!(e.contains("iceunpack"), "{e}");
    let e = fails(&args(
        "verify --model models/digits-mlp.fsnn --engine netlist --count 1",
    ));
    assert!(e.contains("infer --device sim --engine netlist"), "{e}");
}

/// Several simulated devices share the images; with one going silent mid-run, its unfinished
/// images move to the others: every image once, each equal to the golden model's result.
#[test]
fn several_devices_share_the_images_and_survive_one_vanishing() {
    for vanish in [None, Some(300)] {
        let mut line = "infer --device sim --model models/digits-mlp.fsnn --count 40 --lanes 4,2 \
                        --check --devices 3 --chunk 8 --timeout 2 --retries 1 --json"
            .to_string();
        if let Some(bytes) = vanish {
            line += &format!(" --sim-vanish-after {bytes}");
        }
        let r = json_of(&args(&line));
        assert_eq!(r["classified"], 40, "{r}");
        assert_eq!(r["mismatches"], 0, "{r}");
        assert_eq!(r["failed"].as_array().unwrap().len(), 0, "{r}");
        let devices = r["devices"].as_array().unwrap();
        assert_eq!(devices.len(), 3);
        let shares: Vec<u64> = devices
            .iter()
            .map(|d| d["images"].as_u64().unwrap())
            .collect();
        assert_eq!(shares.iter().sum::<u64>(), 40, "{r}");
        match vanish {
            None => assert!(devices.iter().all(|d| d["error"].is_null()), "{r}"),
            Some(_) => {
                let e = devices[0]["error"].as_str().unwrap();
                assert!(e.contains("stopped answering"), "{e}");
                assert!(shares[0] < 8, "{r}");
            }
        }
    }
}

#[test]
fn fewer_input_bits_mean_fewer_input_spikes_and_the_rtl_agrees() {
    let out = temp("digits-3bit.fsnn");
    let o = fpga_host(&[
        "convert",
        "--model",
        "models/digits-mlp.fsnn",
        "--k",
        "6",
        "--input-bits",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let model = fs_model::modelfile::load(&out).unwrap();
    assert_eq!((model.input().bits, model.input().max_value), (3, 7));
    let path = out.to_str().unwrap();
    let narrow = json_of(&["eval", "--model", path, "--json"]);
    let full = json_of(&args("eval --model models/digits-mlp.fsnn --json"));
    let input_spikes = |v: &serde_json::Value| v["layers"][0]["spikes_per_image"].as_f64().unwrap();
    assert_eq!(narrow["layers"][0]["steps"], 3, "{narrow}");
    assert!(
        input_spikes(&narrow) < 0.95 * input_spikes(&full),
        "{narrow}"
    );
    assert!(
        narrow["fs_fixed_accuracy"].as_f64().unwrap() > 0.9,
        "{narrow}"
    );
    // The hardware takes the rescaled images as the golden model does.
    let v = json_of(&[
        "verify", "--model", path, "--count", "12", "--lanes", "8", "--json",
    ]);
    assert_eq!(
        (v["images"].as_u64(), v["mismatches"].as_u64()),
        (Some(12), Some(0)),
        "{v}"
    );
    // Digits pixels have five bits: six cannot be made from them.
    let e = fails(&args(
        "convert --model models/digits-mlp.fsnn --input-bits 6 --out /dev/null",
    ));
    assert!(e.contains("input bits 6") && e.contains("1 to 5"), "{e}");
}

#[test]
fn own_image_files_get_the_golden_models_results_one_per_file() {
    let (model, test) = fs_testkit::shipped::digits();
    let engine = fs_model::infer::FixedEngine::new(&model);
    let dir = temp("own-images");
    std::fs::create_dir_all(&dir).unwrap();
    // Digits pixels (0..=16) as grey levels that the documented rule takes back to them.
    let grey = |p: u8| ((u32::from(p) * 255 + 8) / 16) as u8;
    let mut expected = std::collections::BTreeMap::new();
    for i in 0..6 {
        let levels: Vec<u8> = test.image(i).iter().map(|&p| grey(p)).collect();
        let name = dir.join(format!("img{i}.png"));
        image::GrayImage::from_raw(8, 8, levels.clone())
            .unwrap()
            .save(&name)
            .unwrap();
        expected.insert(name.display().to_string(), engine.run(test.image(i)));
        if i == 0 {
            // The same picture in colour (equal channels: its luma is the grey level).
            let rgb: Vec<u8> = levels.iter().flat_map(|&l| [l, l, l]).collect();
            let name = dir.join("colour.png");
            image::RgbImage::from_raw(8, 8, rgb)
                .unwrap()
                .save(&name)
                .unwrap();
            expected.insert(name.display().to_string(), engine.run(test.image(0)));
        }
    }
    let d = dir.to_str().unwrap();
    let check = |files: &serde_json::Value| {
        let files = files.as_array().unwrap();
        assert_eq!(files.len(), expected.len());
        for (f, (name, golden)) in files.iter().zip(&expected) {
            assert_eq!(f["file"].as_str().unwrap(), name);
            assert_eq!(f["class"].as_u64().unwrap() as usize, golden.class(), "{f}");
            let logits: Vec<i64> = serde_json::from_value(f["logits"].clone()).unwrap();
            assert_eq!(logits, golden.logits, "{f}");
        }
    };
    let eval = json_of(&[
        "eval",
        "--model",
        "models/digits-mlp.fsnn",
        "--images",
        d,
        "--json",
    ]);
    check(&eval["files"]);
    let infer = json_of(&[
        "infer",
        "--device",
        "sim",
        "--model",
        "models/digits-mlp.fsnn",
        "--lanes",
        "4,2",
        "--images",
        d,
        "--check",
        "--json",
    ]);
    check(&infer["files"]);
    assert_eq!(
        (infer["mismatches"].as_u64(), infer["classified"].as_u64()),
        (Some(0), Some(7))
    );
    assert!(infer["accuracy"].is_null(), "files have no labels: {infer}");
    let o = fpga_host(&[
        "eval",
        "--model",
        "models/digits-mlp.fsnn",
        "--images",
        d,
        "--csv",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "file,class,{}",
            (0..10)
                .map(|i| format!("logit{i}"))
                .collect::<Vec<_>>()
                .join(",")
        )
    );
    assert_eq!(lines.len(), 8);
    // Another size is refused, naming the file.
    let wide = temp("wide.png");
    image::GrayImage::new(9, 8).save(&wide).unwrap();
    let e = fails(&[
        "eval",
        "--model",
        "models/digits-mlp.fsnn",
        "--images",
        wide.to_str().unwrap(),
    ]);
    assert!(
        e.contains("wide.png") && e.contains("9x8") && e.contains("8x8"),
        "{e}"
    );
}

#[test]
fn verify_writes_one_images_waveform_with_the_designs_names() {
    let path = temp("image3.vcd");
    let v = json_of(&[
        "verify",
        "--model",
        "models/digits-mlp.fsnn",
        "--count",
        "4",
        "--lanes",
        "4,2",
        "--vcd",
        path.to_str().unwrap(),
        "--image",
        "3",
        "--json",
    ]);
    let w = &v["waveform"];
    assert_eq!(
        (w["image"].as_u64(), w["differs"].as_bool()),
        (Some(3), Some(false)),
        "{v}"
    );
    let cycles = w["cycles"].as_u64().unwrap();
    // Read it back: every variable by its full name, then the clock's rising edges and the
    // class on the result port when it left.
    let mut parser = vcd::Parser::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let header = parser.parse_header().unwrap();
    fn walk(
        items: &[vcd::ScopeItem],
        scope: &str,
        out: &mut std::collections::HashMap<String, vcd::IdCode>,
    ) {
        for item in items {
            match item {
                vcd::ScopeItem::Scope(s) => {
                    walk(&s.children, &format!("{scope}{}.", s.identifier), out)
                }
                vcd::ScopeItem::Var(v) => {
                    out.insert(format!("{scope}{}", v.reference), v.code);
                }
            }
        }
    }
    let mut vars = std::collections::HashMap::new();
    walk(&header.items, "", &mut vars);
    for name in [
        "TOP.probe_top.dut.fifos$1$in_valid",
        "TOP.probe_top.dut.fifos$1$in_index",
        "TOP.probe_top.dut.layers$0.lanes$0.membrane",
        "TOP.probe_top.dut.cycles.q",
        "TOP.probe_top.result_class",
    ] {
        assert!(vars.contains_key(name), "{name} is not in the waveform");
    }
    let (clock, class_code, last_code) = (
        vars["TOP.probe_top.clock"],
        vars["TOP.probe_top.result_class"],
        vars["TOP.probe_top.result_last"],
    );
    let (mut edges, mut class, mut last, mut class_at_last) = (0, 0u64, false, None);
    for command in parser {
        match command.unwrap() {
            vcd::Command::ChangeScalar(c, value) if c == clock => {
                edges += (value == vcd::Value::V1) as u64;
            }
            vcd::Command::ChangeScalar(c, value) if c == last_code => {
                last = value == vcd::Value::V1
            }
            vcd::Command::ChangeVector(c, bits) if c == class_code => {
                class = bits
                    .iter()
                    .fold(0, |n, b| 2 * n + (*b == vcd::Value::V1) as u64);
            }
            vcd::Command::Timestamp(_) if last && class_at_last.is_none() => {
                class_at_last = Some(class)
            }
            _ => {}
        }
    }
    assert_eq!(edges, cycles, "one rising edge per simulated cycle");
    let (model, test) = fs_testkit::shipped::digits();
    let golden = fs_model::infer::FixedEngine::new(&model).run(test.image(3));
    assert_eq!(class_at_last, Some(golden.class() as u64));
    let e = fails(&args(
        "verify --model models/digits-mlp.fsnn --lanes 4,2 --vcd /tmp/x.vcd --image 100000",
    ));
    assert!(
        e.contains("--image 100000") && e.contains("360 images"),
        "{e}"
    );
}

#[test]
fn eval_sets_fs_coding_beside_amos_and_rate_coding() {
    let v = json_of(&args(
        "eval --model models/digits-mlp.fsnn --rate-steps 16,128 --json",
    ));
    let codings = v["codings"].as_array().unwrap();
    let names: Vec<&str> = codings
        .iter()
        .map(|c| c["coding"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fs", "amos", "rate", "rate"], "{v}");
    let (fs, amos) = (&codings[0], &codings[1]);
    assert_eq!(fs["accuracy"], v["fs_fixed_accuracy"]);
    assert_eq!(amos["accuracy"], v["fs_fixed_accuracy"]);
    // AMOS: the same spikes over K = 6 neurons per FS neuron; latency K per spiking stage.
    let per = |c: &serde_json::Value| c["spikes_per_neuron"].as_f64().unwrap();
    assert!((per(fs) / 6.0 - per(amos)).abs() < 1e-9, "{v}");
    assert_eq!(fs["latency_steps"], 5 + 6);
    // Rate coding: more steps, more spikes and (here) no worse accuracy than a few steps.
    let (short, long) = (&codings[2], &codings[3]);
    assert_eq!(
        (short["steps"].as_u64(), long["latency_steps"].as_u64()),
        (Some(16), Some(128))
    );
    assert!(per(long) > 4.0 * per(short), "{v}");
    assert!(long["accuracy"].as_f64().unwrap() > 0.9, "{v}");
    assert!(per(long) > 10.0 * per(fs), "{v}");
}

/// Output into a pipe whose reader is gone (`fpga-host boards | head -0`) ends the command
/// quietly, as it ends `cat` (SIGPIPE), never in a panic.
#[cfg(unix)]
#[test]
fn a_closed_pipe_on_stdout_is_no_panic() {
    use std::os::unix::process::ExitStatusExt;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = Command::new(env!("CARGO_BIN_EXE_fpga-host"))
        .arg("boards")
        .current_dir(root())
        .stdout(writer)
        .output()
        .unwrap();
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert_eq!(o.status.signal(), Some(libc::SIGPIPE), "{:?}", o.status);
}
