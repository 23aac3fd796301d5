//! FS-neuron parameter fitter (being written).
