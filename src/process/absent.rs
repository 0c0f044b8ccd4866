//! Without the `process` feature nothing is supervised.

/// No supervised process can be alive without the `process` feature.
pub(crate) fn live_supervised() -> usize {
    0
}
