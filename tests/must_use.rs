//! Compile-fail tests: a `#[must_use]` guard (a breaker `Permit`, a pool `Lease`, a
//! `PortLease`), call or builder left unused is a compile error under `deny(unused_must_use)`,
//! with the message that says what dropping it does. Each case in `tests/must_use/` is compiled
//! by trybuild and its error compared with its `.stderr`.

#[test]
fn guards_calls_and_builders_left_unused_do_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/must_use/*.rs");
}
