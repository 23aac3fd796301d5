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
    for name in ["digits-mlp.fsnn", "mnist-mlp.fsnn"] {
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
