//! Data sets (being written).
