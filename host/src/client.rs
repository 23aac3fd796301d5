//! The host end of the wire protocol (`fs_hdl::protocol`, `docs/protocol.md`) over a serial
//! port: one request at a time, each answered or retried.
//!
//! A request whose response does not arrive within the timeout, arrives corrupted, or is the
//! device's report that the request arrived corrupted (CRC, length) is sent again with the same
//! sequence number, up to `retries` times; then the device is declared gone. The device
//! recognises a repeated classify by its sequence number and does not feed its images twice;
//! a read-results response that is lost shows up as a gap in the results' numbers, so the
//! image it carried is named as failed rather than silently lost.

use anyhow::{Context, Result, bail};
use fs_hdl::protocol::{
    Command, DEVICE_MAX_PAYLOAD, ErrorCode, Frame, FrameDecoder, HEADER_BYTES, Identity, RESPONSE,
    ResultResponse, Status, TRAILER_BYTES, WAIT_FOR_RESULT,
};
use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

/// Traffic counters of a link.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LinkStats {
    pub requests: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Requests sent again (timeout, corrupted response, corrupted request).
    pub retries: u64,
    /// Of those, read-results requests: the only ones whose lost response can lose a result
    /// (the device sent it and moved on).
    pub result_retries: u64,
    /// Responses that failed the CRC, and bytes skipped as noise.
    pub corrupt_responses: u64,
    pub noise_bytes: u64,
    /// Requests the device answered `Busy`.
    pub busy: u64,
}

impl LinkStats {
    /// The traffic since `before` (an earlier copy of these counters).
    pub fn since(&self, before: &LinkStats) -> LinkStats {
        LinkStats {
            requests: self.requests - before.requests,
            bytes_sent: self.bytes_sent - before.bytes_sent,
            bytes_received: self.bytes_received - before.bytes_received,
            retries: self.retries - before.retries,
            result_retries: self.result_retries - before.result_retries,
            corrupt_responses: self.corrupt_responses - before.corrupt_responses,
            noise_bytes: self.noise_bytes - before.noise_bytes,
            busy: self.busy - before.busy,
        }
    }
}

impl std::ops::AddAssign<&LinkStats> for LinkStats {
    fn add_assign(&mut self, other: &LinkStats) {
        self.requests += other.requests;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.retries += other.retries;
        self.result_retries += other.result_retries;
        self.corrupt_responses += other.corrupt_responses;
        self.noise_bytes += other.noise_bytes;
        self.busy += other.busy;
    }
}

/// How the device answered a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    Accepted(Vec<u8>),
    Refused(ErrorCode),
}

/// A byte link to a device: a serial port, or FrontPanel pipes (`crate::frontpanel`). Reads
/// return `TimedOut` after a short wait when no byte has come.
pub trait Link: Read + Write {}
impl<T: Read + Write> Link for T {}

pub struct Client {
    port: Box<dyn Link>,
    /// What the link is, for errors: "serial port /dev/ttyUSB1".
    name: String,
    sequence: u8,
    decoder: FrameDecoder,
    pub timeout: Duration,
    pub retries: u32,
    pub stats: LinkStats,
}

impl Client {
    pub fn new(port: Box<dyn Link>, name: &str, timeout: Duration, retries: u32) -> Self {
        Client {
            port,
            name: name.to_string(),
            // Different from session to session, so that responses an earlier session left
            // on the link are unlikely to carry the numbers this one waits for.
            sequence: session_sequence(),
            decoder: FrameDecoder::new(),
            timeout,
            retries,
            stats: LinkStats::default(),
        }
    }

    /// Opens a serial port at the first of `rates` at which the device answers an identify
    /// request within `probe` (one try each), then keeps `timeout` and `retries`; returns the
    /// rate too. When none answers, the error tells silence (port, programming, rate) from
    /// bad frames (a baud rate or clock mismatch) and lists the rates tried.
    pub fn open_probing(
        path: &str,
        rates: &[u32],
        probe: Duration,
        timeout: Duration,
        retries: u32,
    ) -> Result<(Self, u32)> {
        let (mut corrupt, mut noise) = (0, 0);
        for &baud in rates {
            let mut client = Client::open(path, baud, probe, 0)?;
            let answer = client.identify();
            corrupt += client.stats.corrupt_responses;
            noise += client.stats.noise_bytes;
            if answer.is_ok() {
                client.timeout = timeout;
                client.retries = retries;
                client.stats = LinkStats::default();
                return Ok((client, baud));
            }
        }
        if corrupt + noise > 0 {
            bail!(
                "bad frames: serial port {path} answered at {rates:?} baud, but with {corrupt} \
                 corrupted frames and {noise} noise bytes. The baud rate or the board's clock \
                 differs from the host's: give the rate its bitstream was built for (--baud; \
                 `fpga-host boards` lists them), and check the board's oscillator"
            )
        }
        bail!(
            "no answer: nothing came back from serial port {path} at {rates:?} baud. Check \
             that it is the board's port (`fpga-host ports`; an FTDI board has two, the UART is \
             usually the second), that the board is programmed (its LEDs), and the baud rate \
             (--baud)"
        )
    }

    /// Opens a serial port at `baud`.
    pub fn open(path: &str, baud: u32, timeout: Duration, retries: u32) -> Result<Self> {
        let port = serialport::new(path, baud)
            .timeout(Duration::from_millis(10))
            .open()
            .with_context(|| format!("opening serial port {path} at {baud} baud"))?;
        Client::connect(
            Box::new(port),
            &format!("serial port {path}"),
            timeout,
            retries,
        )
    }

    /// A client on `link` (called `name` in errors), resynchronised with the device.
    pub fn connect(
        link: Box<dyn Link>,
        name: &str,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self> {
        let mut client = Client::new(link, name, timeout, retries);
        client
            .resynchronise()
            .with_context(|| format!("resynchronising with the device on {name}"))?;
        Ok(client)
    }

    /// Starts the next request's sequence number after `last` (tests use it to make a session
    /// reuse an earlier one's numbers).
    pub fn continue_after(&mut self, last: u8) {
        self.sequence = last;
    }

    /// The last request's sequence number.
    pub fn last_sequence(&self) -> u8 {
        self.sequence
    }

    /// Completes any frame an earlier session left half sent, so the device listens for this
    /// session's first request at once: as many zero bytes as the longest frame the device
    /// takes (zeros are never `SYNC`, so a device that is not inside a frame skips them;
    /// one that is answers its CRC error, which is drained here with whatever else the
    /// earlier session left on the link).
    pub fn resynchronise(&mut self) -> Result<()> {
        self.send(&[0u8; HEADER_BYTES + DEVICE_MAX_PAYLOAD + TRAILER_BYTES])?;
        let quiet = Duration::from_millis(30);
        let give_up = Instant::now() + self.timeout.min(Duration::from_secs(1));
        let mut last_byte = Instant::now();
        let mut buffer = [0u8; 4096];
        while last_byte.elapsed() < quiet && Instant::now() < give_up {
            if self.receive(&mut buffer)? > 0 {
                last_byte = Instant::now();
            }
        }
        Ok(())
    }

    /// Writes `bytes` to the link and counts them.
    fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.port
            .write_all(bytes)
            .and_then(|_| self.port.flush())
            .with_context(|| format!("writing to {}", self.name))?;
        self.stats.bytes_sent += bytes.len() as u64;
        Ok(())
    }

    /// Reads what the link has into `buffer` and counts it; 0 when nothing came within the
    /// link's own short wait.
    fn receive(&mut self, buffer: &mut [u8]) -> Result<usize> {
        match self.port.read(buffer) {
            Ok(n) => {
                self.stats.bytes_received += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {
                Ok(0)
            }
            Err(e) => Err(e).with_context(|| format!("reading from {}", self.name)),
        }
    }

    /// Sends a request and waits for its answer, retrying as the module says.
    pub fn request(&mut self, command: Command, payload: &[u8]) -> Result<Reply> {
        self.sequence = self.sequence.wrapping_add(1);
        let sequence = self.sequence;
        let bytes = Frame::new(sequence, command as u8, payload.to_vec())
            .encode()
            .context("encoding a request")?;
        self.stats.requests += 1;
        for attempt in 0..=self.retries {
            if attempt > 0 {
                self.stats.retries += 1;
                if command == Command::ReadResults {
                    self.stats.result_retries += 1;
                }
            }
            self.send(&bytes)?;
            match self.await_response(sequence, command)? {
                Some(frame) if frame.command == Command::Error as u8 => {
                    let code = frame.payload.first().copied().unwrap_or(0);
                    match ErrorCode::from_code(code) {
                        // The request was corrupted on its way: send it again.
                        Some(ErrorCode::Crc | ErrorCode::Length) => continue,
                        Some(ErrorCode::Busy) => {
                            self.stats.busy += 1;
                            return Ok(Reply::Refused(ErrorCode::Busy));
                        }
                        Some(e) => return Ok(Reply::Refused(e)),
                        None => bail!("the device answered {command:?} with unknown error {code}"),
                    }
                }
                Some(frame) => return Ok(Reply::Accepted(frame.payload)),
                None => continue,
            }
        }
        bail!(
            "the device stopped answering: no valid response to {command:?} after {} tries of {:?} each",
            self.retries + 1,
            self.timeout
        )
    }

    /// A request that must be accepted: its response's payload.
    pub fn expect(&mut self, command: Command, payload: &[u8]) -> Result<Vec<u8>> {
        match self.request(command, payload)? {
            Reply::Accepted(p) => Ok(p),
            Reply::Refused(e) => bail!("the device refused {command:?}: {}", e.describe()),
        }
    }

    /// The response to request `sequence` (`command`'s response or an error frame), `None`
    /// after the timeout or a corrupted response. Other frames (late answers to earlier
    /// tries or sessions) are dropped.
    fn await_response(&mut self, sequence: u8, command: Command) -> Result<Option<Frame>> {
        let answers =
            |f: &Frame| f.command == command as u8 | RESPONSE || f.command == Command::Error as u8;
        let deadline = Instant::now() + self.timeout;
        let mut buffer = [0u8; 4096];
        loop {
            while let Some(next) = self.decoder.next_frame() {
                match next {
                    Ok(frame) if frame.sequence == sequence && answers(&frame) => {
                        return Ok(Some(frame));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        self.stats.corrupt_responses += 1;
                        return Ok(None);
                    }
                }
            }
            self.stats.noise_bytes = self.decoder.skipped;
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let n = self.receive(&mut buffer)?;
            self.decoder.push(&buffer[..n]);
        }
    }

    pub fn identify(&mut self) -> Result<Identity> {
        let payload = self.expect(Command::Identify, &[])?;
        Identity::decode(&payload)
    }

    pub fn status(&mut self, accelerator_counters: usize) -> Result<Status> {
        let payload = self.expect(Command::Status, &[])?;
        Status::decode(&payload, accelerator_counters)
    }

    /// The next result; `wait` asks the device to wait for one even when it could take
    /// more images.
    pub fn read_result(&mut self, classes: usize, wait: bool) -> Result<ResultResponse> {
        let request: &[u8] = if wait { &WAIT_FOR_RESULT } else { &[] };
        let payload = self.expect(Command::ReadResults, request)?;
        ResultResponse::decode(&payload, classes)
    }
}

/// A sequence number to start a session from: the clock's and the process's.
fn session_sequence() -> u8 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (nanos >> 10) as u8 ^ std::process::id() as u8
}
