//! The accelerator, bottom up: [`neuron_alu`] (the FS-neuron step), [`bram`] (block RAM with
//! its contents), [`lane`] (one processing element) and [`lane_layout`] (what its memories
//! hold), [`dense_layer`] (lanes behind an address-event bus;
//! [`weight_pair`] gives two of its lanes one weight memory), [`conv_layer`] (the
//! event-driven convolution with max pooling) and [`conv_layout`] (its tables), [`spike_fifo`] (the bus between
//! stages; [`skid_buffer`] cuts its handshake), [`input_encoder`] (pixels to bit-plane spikes), [`zero_run_expander`] (the
//! pixel port's zero runs back to pixels), [`pixel_conv_layer`] (a first convolution from the pixels
//! themselves; [`group_occupancy`] says which of its groups see a lit pixel), and [`accelerator`], the whole
//! pipeline for one model. [`datapath`] is the width everything is built at; [`cycle_model`]
//! the cycles per image it takes.

pub mod accelerator;
pub mod bram;
pub mod conv_layer;
pub mod conv_layout;
pub mod cycle_model;
pub mod datapath;
pub mod dense_layer;
pub mod field_bram;
pub mod group_occupancy;
pub mod input_encoder;
pub mod lane;
pub mod lane_layout;
pub mod neuron_alu;
pub mod operation;
pub mod pixel_conv_layer;
pub mod signed_product;
pub mod skid_buffer;
pub mod spike_fifo;
pub mod weight_pair;
pub mod zero_run_expander;
