//! [`setters!`]: the fluent form of a `#[non_exhaustive]` configuration struct.
//!
//! A struct that is `#[non_exhaustive]` cannot be written as a literal outside this crate
//! (`PoolConfig { max_total: 20, ..Default::default() }` does not compile there), so each one
//! gets a consuming setter per field, named as the field:
//! `PoolConfig::default().max_total(20).max_per_key(5)`. Setters check nothing; `validate()`
//! and `build()` check the result, as they check fields set by assignment.

/// Generates one documented consuming setter per listed field, taking the field's own type;
/// the fields in the optional `into { .. }` list take anything `Into` their type (for
/// `Option` fields, so `.queue_timeout(Duration::from_secs(5))` and `.queue_timeout(None)`
/// both read well).
macro_rules! setters {
    (
        $type:ty { $($field:ident: $value:ty),* $(,)? }
        $(into { $($optional:ident: $optional_value:ty),* $(,)? })?
    ) => {
        impl $type {
            $(
                #[doc = concat!(
                    "Returns the configuration with [`", stringify!($field), "`](#structfield.",
                    stringify!($field), ") set: the fluent form of assigning the field."
                )]
                pub fn $field(mut self, $field: $value) -> Self {
                    self.$field = $field;
                    self
                }
            )*
            $($(
                #[doc = concat!(
                    "Returns the configuration with [`", stringify!($optional), "`](#structfield.",
                    stringify!($optional), ") set to a value or `None`: the fluent form of \
                    assigning the field."
                )]
                pub fn $optional(mut self, $optional: impl Into<$optional_value>) -> Self {
                    self.$optional = $optional.into();
                    self
                }
            )*)?
        }
    };
}

pub(crate) use setters;
