//! The XEM7010's link: the wire protocol's bytes over FrontPanel's USB pipes
//! (`fs_hdl::protocol::pipe`, the device side is `fs_boards::pipe_bridge`), through Opal Kelly's
//! FrontPanel API (`rust-hdl-ok-frontpanel-sys`). Built with the `xem7010` feature only.

use anyhow::{Result, anyhow, bail};
use fs_hdl::protocol::pipe::{PIPE_IN, PIPE_OUT, WIRE_WAITING, from_words, to_words};
use rust_hdl_ok_frontpanel_sys::{OkError, OkHandle};
use std::collections::VecDeque;
use std::io::{self, ErrorKind, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Words read in one pipe transfer at most (the device's transmit FIFO holds 1,024 bytes).
const MAX_READ_WORDS: usize = 1024;
/// How long a read waits for bytes before it reports `TimedOut` (the client then checks its
/// own deadline and reads again).
const POLL: Duration = Duration::from_millis(10);

pub struct FrontPanelLink {
    handle: OkHandle,
    received: VecDeque<u8>,
}

impl FrontPanelLink {
    /// Opens the XEM7010 with serial number `serial` (the first one found without), and
    /// configures its FPGA with `bitstream` if one is given. Returns the link and its name.
    pub fn open(serial: Option<&str>, bitstream: Option<&Path>) -> Result<(Self, String)> {
        let handle = OkHandle::new();
        match serial {
            Some(s) => handle.open_with_serial(s),
            None => handle.open(),
        }
        .map_err(|e| {
            anyhow!(
                "opening the XEM7010 {}: FrontPanel error {}",
                serial.unwrap_or("(the first found)"),
                e.code
            )
        })?;
        let model = handle.get_board_model();
        if !model.contains("XEM7010") {
            bail!(
                "the FrontPanel device {} is a {model}, not an XEM7010",
                handle.get_serial_number()
            );
        }
        if let Some(path) = bitstream {
            let file = path
                .to_str()
                .ok_or_else(|| anyhow!("the bitstream path {} is not UTF-8", path.display()))?;
            handle.configure_fpga(file).map_err(|e| {
                anyhow!(
                    "configuring the XEM7010 with {}: FrontPanel error {}",
                    path.display(),
                    e.code
                )
            })?;
        }
        let name = format!("XEM7010 {}", handle.get_serial_number());
        let link = FrontPanelLink {
            handle,
            received: VecDeque::new(),
        };
        Ok((link, name))
    }
}

fn io_error(what: &str, e: OkError) -> io::Error {
    io::Error::other(format!("{what}: FrontPanel error {}", e.code))
}

impl Write for FrontPanelLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handle
            .write_to_pipe_in(PIPE_IN as i32, &to_words(buf))
            .map_err(|e| io_error("writing to pipe 0x80", e))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for FrontPanelLink {
    /// The bytes the device has sent: the count waiting (`WireOut`), then that many words
    /// from the `PipeOut` (which has no flow control, so never more than wait).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let deadline = Instant::now() + POLL;
        while self.received.is_empty() {
            self.handle.update_wire_outs();
            let waiting = self.handle.get_wire_out(WIRE_WAITING as i32) as usize;
            if waiting > 0 {
                let mut words = vec![0u8; 2 * waiting.min(MAX_READ_WORDS)];
                self.handle
                    .read_from_pipe_out(PIPE_OUT as i32, &mut words)
                    .map_err(|e| io_error("reading from pipe 0xA0", e))?;
                self.received.extend(from_words(&words));
            } else if Instant::now() >= deadline {
                return Err(ErrorKind::TimedOut.into());
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        let n = buf.len().min(self.received.len());
        for (slot, byte) in buf.iter_mut().zip(self.received.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}
