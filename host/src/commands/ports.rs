//! `fpga-host ports`: the serial ports a board may be on.

use anyhow::{Context, Result};
use serialport::SerialPortType;

pub fn run() -> Result<()> {
    let ports = serialport::available_ports().context("listing serial ports")?;
    if ports.is_empty() {
        println!("no serial ports found");
    }
    for port in ports {
        let kind = match port.port_type {
            SerialPortType::UsbPort(usb) => format!(
                "USB {:04x}:{:04x} {} {}",
                usb.vid,
                usb.pid,
                usb.manufacturer.unwrap_or_default(),
                usb.product.unwrap_or_default()
            ),
            SerialPortType::PciPort => "PCI".into(),
            SerialPortType::BluetoothPort => "Bluetooth".into(),
            SerialPortType::Unknown => "unknown".into(),
        };
        println!("{}  {}", port.port_name, kind.trim());
    }
    Ok(())
}
