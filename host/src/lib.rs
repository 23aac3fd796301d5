//! `fpga-host`: the host side of fs-accel. The binary is a thin clap front end over these
//! commands; each command is a function that takes its parsed arguments.

pub mod client;
pub mod commands;
pub mod fleet;
#[cfg(feature = "xem7010")]
pub mod frontpanel;
pub mod images;
pub mod plan;
pub mod progress;
pub mod pty_device;
pub mod report;
pub mod stream;
