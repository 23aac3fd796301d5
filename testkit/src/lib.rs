//! # fs-testkit: what the fs-accel tests share
//!
//! One definition each of the things every crate's tests need: the workspace's root
//! ([`root`]), the shipped models and their data sets ([`shipped`]), and random models and
//! images at the edges of the fixed-point format ([`random`]). A dev-dependency of every
//! crate; it depends on the golden model only, so the golden model's own tests stay free of
//! the RTL. (The comparison of an RTL run with the golden model is not here: `fpga-host
//! verify` uses it too, so it lives in `fs_hdl::sim::compare`.)

pub mod random;
pub mod shipped;

use std::path::PathBuf;

/// The workspace's root folder (where `models/`, `data/` and `constraints/` are), found from
/// this crate's manifest at build time, so tests work from any working directory.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the testkit crate is a folder of the workspace")
        .to_path_buf()
}
