//! The RTL's generated Verilog compiled by Verilator: [`accelerator`] runs images through the
//! accelerator with every spike bus probed (the same records as [`crate::sim::rusthdl`]),
//! [`device`] is the whole device speaking the wire protocol on stdin and stdout. Both are
//! built by [`verilate`], cached by a hash of their sources.

pub mod accelerator;
pub mod device;

use anyhow::{Context, Result, bail, ensure};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Compiles `files` (Verilog and one C++ testbench, written under `cache` in a folder named
/// by their hash, so an unchanged design is reused) with `top` as the top module and
/// `defines` (`NAME` or `NAME=VALUE`) set; with `trace`, Verilator's VCD tracing is built in
/// and `TRACE` defined for the testbench. Returns the binary. Needs `verilator`, `make` and a
/// C++ compiler.
pub fn verilate(
    cache: &Path,
    files: &[(&str, &str)],
    top: &str,
    defines: &[&str],
    trace: bool,
) -> Result<PathBuf> {
    let mut hasher = DefaultHasher::new();
    (files, top, defines, trace).hash(&mut hasher);
    let dir = cache.join(format!("{:016x}", hasher.finish()));
    let binary = dir.join("obj_dir").join("sim");
    // A folder is complete once it exists: builds happen in a folder of their own and are
    // renamed into place, so an interrupted build or two at once never leave a half-built
    // binary behind.
    if binary.exists() {
        return Ok(binary);
    }
    let building = cache.join(format!(
        "{:016x}.building-{}",
        hasher.finish(),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building)
        .with_context(|| format!("creating {}", building.display()))?;
    for (name, text) in files {
        std::fs::write(building.join(name), text)
            .with_context(|| format!("writing {}", building.join(name).display()))?;
    }
    let mut args: Vec<&str> = vec![
        "--cc",
        "--exe",
        "--build",
        "-j",
        "2",
        "-O3",
        // RustHDL's designs come out as a few functions of thousands of statements, which
        // the C++ compiler optimises in superlinear time (one file took 170 s at -Os, the
        // MNIST MLP's whole build 3 minutes): split into small functions and files, they
        // build in 25 s on 2 cores, and -O2 then runs them faster than -Os did.
        "--output-split",
        "20000",
        "--output-split-cfuncs",
        "1000",
        "-MAKEFLAGS",
        "OPT_FAST=-O2",
        "--x-assign",
        "fast",
        "--x-initial",
        "fast",
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "-Wno-WIDTH",
        "--top-module",
        top,
        "-o",
        "sim",
    ];
    let mut defines: Vec<String> = defines.iter().map(|d| format!("-D{d}")).collect();
    if trace {
        // (-CFLAGS: the testbench sees the define too, not only the Verilog.)
        defines.extend(["--trace".into(), "-CFLAGS".into(), "-DTRACE".into()]);
    }
    args.extend(defines.iter().map(String::as_str));
    args.extend(files.iter().map(|(name, _)| *name));
    let output = Command::new("verilator")
        .current_dir(&building)
        .args(&args)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                anyhow::anyhow!("verilator is not installed: apt-get install verilator")
            }
            _ => e.into(),
        })?;
    if !output.status.success() || !building.join("obj_dir").join("sim").exists() {
        let log = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        bail!(
            "verilator failed to build {top} in {}:\n{}",
            building.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    // Another build of the same design may have finished first: then keep that one.
    if std::fs::rename(&building, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&building);
        ensure!(
            binary.exists(),
            "could not move the Verilator build into {}",
            dir.display()
        );
    }
    Ok(binary)
}
