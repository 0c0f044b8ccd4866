//! Configuration reads only from maps. serde's derive also reads a struct from a sequence of
//! its fields in order (for formats without field names), and with `#[serde(default)]` a JSON
//! `[]` would read as the defaults: a file of the wrong shape would configure nothing, silently.
//!
//! So each configuration struct derives with `#[serde(remote = "Self")]`, which turns the
//! derived code into inherent functions, and [`map_only!`] implements the traits over them:
//! the derived reading is handed a deserializer on which a sequence is an invalid type.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserializer, forward_to_deserialize_any};

/// Implements `Serialize` and a map-only `Deserialize` for configuration structs that derive
/// both with `#[serde(remote = "Self")]`.
macro_rules! map_only {
    ($($config:ty),+ $(,)?) => {$(
        impl serde::Serialize for $config {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // The derived inherent function, which a path prefers to the trait's.
                <$config>::serialize(self, serializer)
            }
        }

        impl<'de> serde::Deserialize<'de> for $config {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                <$config>::deserialize($crate::config::map_only::MapOnly(deserializer))
            }
        }
    )+};
}
pub(crate) use map_only;

/// A deserializer whose structs and values are read by [`Maps`].
pub(crate) struct MapOnly<D>(pub(crate) D);

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapOnly<D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Maps(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_struct(name, fields, Maps(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// A visitor that takes only a map to the derived visitor; anything else, a sequence above all,
/// is an invalid type ("invalid type: sequence, expected struct GovernorConfig").
struct Maps<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Maps<V> {
    type Value = V::Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(formatter)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(map)
    }
}
