//! The simulated device behind its pseudo-terminal, through the serial-port client.

mod common;

use common::{assert_accounted_for, digits};
use fpga_host::client::Client;
use fpga_host::pty_device::PtyDevice;
use fs_hdl::core::accelerator::HwConfig;
use serialport::SerialPort;
use std::path::PathBuf;
use std::time::Duration;

/// The digits device with `lanes` behind a pseudo-terminal, and a client on it.
fn start(lanes: Vec<usize>, timeout: Duration, retries: u32) -> (PtyDevice, Client, HwConfig) {
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
    let config = HwConfig::new(lanes);
    let sim = PtyDevice::start(&model, &config).unwrap();
    let client = Client::open(&sim.path, 3_000_000, timeout, retries).unwrap();
    (sim, client, config)
}

#[test]
fn identify_through_the_pseudo_terminal() {
    let (sim, mut client, config) = start(vec![4, 2], Duration::from_secs(10), 1);
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
    let id = client.identify().unwrap();
    assert_eq!(id, fs_hdl::protocol::identity(&model, &config).unwrap());
    sim.stop().unwrap();
}

#[test]
fn a_device_that_stops_answering_is_a_clear_error() {
    let (sim, mut client, _) = start(vec![2, 2], Duration::from_millis(300), 2);
    client.identify().unwrap();
    sim.stop().unwrap();
    // The terminal closed with the device: an I/O error that names the port, not a hang.
    let e = format!("{:#}", client.identify().unwrap_err());
    assert!(e.contains("serial port"), "{e}");
}

#[test]
fn a_device_that_is_silent_is_retried_then_declared_gone() {
    // A terminal with nothing behind it: every request times out.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    let mut client = Client::open(&path, 3_000_000, Duration::from_millis(200), 2).unwrap();
    let e = format!("{:#}", client.identify().unwrap_err());
    assert!(
        e.contains("stopped answering") && e.contains("3 tries"),
        "{e}"
    );
    assert_eq!(client.stats.retries, 2);
}

#[test]
fn without_a_baud_rate_the_client_tries_the_boards_rates() {
    let rates = fs_boards::baud_rates();
    // (Every board runs 3 Mbaud today: one rate, but a list, slowest first, when they differ.)
    assert!(
        !rates.is_empty() && rates.windows(2).all(|w| w[0] < w[1]),
        "{rates:?}"
    );
    assert!(fs_boards::BOARDS.iter().all(|b| rates.contains(&b.baud)));
    // Nothing answers: every rate is tried once, and the error names them.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    let probe = Duration::from_millis(100);
    let e = match Client::open_probing(&path, &rates, probe, Duration::from_secs(1), 2) {
        Ok(_) => panic!("a silent terminal answered"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains(&format!("{rates:?}")) && e.contains("--baud"),
        "{e}"
    );
    // A device answers: the first rate is kept, with the caller's timeout and retries.
    let model = fs_testkit::shipped::model("digits-mlp.fsnn");
    let sim = PtyDevice::start(&model, &HwConfig::new(vec![2, 2])).unwrap();
    let (mut client, baud) = Client::open_probing(
        &sim.path,
        &rates,
        Duration::from_secs(10),
        Duration::from_secs(7),
        3,
    )
    .unwrap();
    assert_eq!(
        (baud, client.timeout, client.retries),
        (rates[0], Duration::from_secs(7), 3)
    );
    client.identify().unwrap();
    sim.stop().unwrap();
}

#[test]
fn the_verilator_device_agrees_with_the_golden_model() {
    use fpga_host::stream::{classify, prepare};
    let (model, test) = digits();
    let config = HwConfig::new(vec![2, 2]);
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("verilator-device");
    let sim = PtyDevice::start_verilator(&model, &config, &cache).unwrap();
    let mut client = Client::open(&sim.path, 3_000_000, Duration::from_secs(10), 1).unwrap();
    let (identity, loaded) = prepare(&mut client, &model, true).unwrap();
    assert_eq!(
        identity,
        fs_hdl::protocol::identity(&model, &config).unwrap()
    );
    assert!(!loaded);
    let images: Vec<&[u8]> = (0..40).map(|i| test.image(i)).collect();
    let batch = classify(&mut client, &identity, &images, true);
    assert!(batch.error.is_none(), "{:?}", batch.error);
    assert_eq!(assert_accounted_for(&model, &images, &batch), images.len());
    drop(client);
    sim.stop().unwrap();
}
