//! The device: what stands between a byte link and the [`crate::core::accelerator`]. Bytes
//! arrive through [`uart_rx`] (or a board's other carrier), frames are checked by
//! [`frame_receiver`] with [`crc16`], executed by the command unit [`device`] (images decoded
//! by [`image_decoder`]), and answered through [`frame_sender`] and [`uart_tx`]. The frames
//! and payloads are those of [`crate::protocol`].

pub mod crc16;
pub mod device;
pub mod frame_receiver;
pub mod frame_sender;
pub mod image_decoder;
pub mod uart_rx;
pub mod uart_tx;
