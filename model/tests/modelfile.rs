//! The model file: round trips, and clear errors (never panics) on damaged files.

use fs_model::modelfile::{from_bytes, load, save, to_bytes};
use fs_testkit::shipped;

fn err(bytes: &[u8]) -> String {
    format!(
        "{:#}",
        from_bytes(bytes).expect_err("damaged file must not load")
    )
}

#[test]
fn shipped_models_load_and_round_trip() {
    for name in [
        "digits-mlp.fsnn",
        "mnist-mlp.fsnn",
        "mnist-mlp-8bit.fsnn",
        "mnist-cnn.fsnn",
    ] {
        let model = load(&shipped::path(name)).unwrap();
        let again = from_bytes(&to_bytes(&model).unwrap()).unwrap();
        assert_eq!(model, again, "{name}");
    }
}

#[test]
fn random_models_round_trip_through_a_file() {
    let dir = std::env::temp_dir().join(format!("fs-model-roundtrip-{}", std::process::id()));
    for seed in 0..50 {
        let model = fs_testkit::random::random_model(seed, &Default::default());
        let path = dir.join(format!("m{seed}.fsnn"));
        save(&model, &path).unwrap();
        assert_eq!(load(&path).unwrap(), model, "seed {seed}");
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn every_truncation_is_an_error() {
    let bytes = std::fs::read(shipped::path("digits-mlp.fsnn")).unwrap();
    for cut in (0..bytes.len()).step_by(97).chain([bytes.len() - 1]) {
        let e = err(&bytes[..cut]);
        assert!(e.contains("truncated or corrupt"), "cut at {cut}: {e}");
    }
}

#[test]
fn flipped_bytes_never_panic() {
    let bytes = std::fs::read(shipped::path("digits-mlp.fsnn")).unwrap();
    // Header bytes flipped: an error or (rarely, e.g. inside a float) a still-valid model.
    for i in 0..bytes.len().min(6000) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        let _ = from_bytes(&b);
    }
}

fn tamper(from: &str, to: &str) -> String {
    let bytes = std::fs::read(shipped::path("digits-mlp.fsnn")).unwrap();
    assert_eq!(from.len(), to.len(), "tampering must keep offsets");
    let text = replace_once(&bytes, from.as_bytes(), to.as_bytes());
    err(&text)
}

fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let pos = bytes
        .windows(from.len())
        .position(|w| w == from)
        .unwrap_or_else(|| panic!("{:?} not in file", String::from_utf8_lossy(from)));
    let mut out = bytes.to_vec();
    out[pos..pos + to.len()].copy_from_slice(to);
    out
}

#[test]
fn wrong_fields_are_named() {
    let e = tamper(r#"\"version\":1"#, r#"\"version\":7"#);
    assert!(e.contains("version 7 is not supported"), "{e}");
    let e = tamper(r#"\"weight_bits\":8"#, r#"\"weight_bits\":3"#);
    assert!(
        e.contains("layer 0") && e.contains("does not fit the fixed-point range -4..=3"),
        "{e}"
    );
    let e = tamper(r#"\"activation\":\"relu\""#, r#"\"activation\":\"relx\""#);
    assert!(
        e.contains("network description") && e.contains("relx"),
        "{e}"
    );
    let e = tamper(r#"\"inputs\":64"#, r#"\"inputs\":65"#);
    assert!(e.contains("layers.0.weight") && e.contains("shape"), "{e}");
    let e = tamper("layers.1.bias_q", "layers.1.bias_x");
    assert!(e.contains("`layers.1.bias_q` is missing"), "{e}");
}

#[test]
fn a_missing_file_names_its_path() {
    let e = format!("{:#}", load(&shipped::path("no-such.fsnn")).unwrap_err());
    assert!(e.contains("no-such.fsnn"), "{e}");
}

#[test]
fn garbage_is_rejected() {
    for bytes in [
        &b""[..],
        b"FSNN",
        &[0xff; 64],
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    ] {
        let _ = err(bytes);
    }
}

#[test]
fn random_cnns_round_trip_as_version_2() {
    for seed in 0..50 {
        let model = fs_testkit::random::random_model(seed, &fs_testkit::random::ModelSpec::cnn());
        let bytes = to_bytes(&model).unwrap();
        assert!(contains(&bytes, br#"\"version\":2"#), "seed {seed}");
        assert_eq!(from_bytes(&bytes).unwrap(), model, "seed {seed}");
    }
}

/// A dense network is still written as version 1, byte for byte as before convolutions
/// existed: the design and model fingerprints that devices report (checksums of these bytes,
/// built into the bitstreams) must not move. The digests were taken from the writer of
/// version 1 (commit bfef4a2); the 8-bit MNIST MLP was the shipped MNIST model then.
#[test]
fn dense_models_are_written_as_before() {
    use md5::{Digest, Md5};
    for (name, digest) in [
        ("digits-mlp.fsnn", "73a842ea944dfa7d9dbba12b069593b9"),
        ("mnist-mlp-8bit.fsnn", "2b1d2d38394b5ef56166ab8327c4ccff"),
    ] {
        let bytes = to_bytes(&load(&shipped::path(name)).unwrap()).unwrap();
        assert!(contains(&bytes, br#"\"version\":1"#), "{name}");
        let got: String = Md5::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, digest, "{name}");
    }
}

#[test]
fn a_version_1_file_with_a_convolution_is_refused_by_name() {
    let model = fs_testkit::random::random_model(1, &fs_testkit::random::ModelSpec::cnn());
    let bytes = to_bytes(&model).unwrap();
    let v1 = replace_once(&bytes, br#"\"version\":2"#, br#"\"version\":1"#);
    let e = err(&v1);
    assert!(
        e.contains("version-1 model file holds dense layers only, found conv2d"),
        "{e}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
